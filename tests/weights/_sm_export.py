"""Legacy side of the segmentation-models interop test (run by test_segmentation_models.py in a subprocess).

Run with ``TF_USE_LEGACY_KERAS=1 SM_FRAMEWORK=tf.keras``: builds segmentation-models ``Unet('densenet121')``
and ``Unet('vgg16')`` (64×64×3, no ImageNet download), gives every weight a random value (kernels, biases,
BN gamma/beta, moving means, positive moving variances), and writes into OUT_DIR, per backbone:

* ``<backbone>.h5`` — densenet121 via ``model.save_weights`` (root layout), vgg16 via ``model.save``
  (weights under ``model_weights``), so both legacy layouts are exercised;
* ``<backbone>_weights.npz`` — every weight, key ``"<layer name>:<index>"`` (index in the layer's order);
* ``input.npy`` — one fixed random batch, shared by both models; ``<backbone>_pred.npy`` — the predictions.

Exits with status 77 and the import error on stderr when tf-keras or segmentation-models is missing.

Usage: python _sm_export.py OUT_DIR
"""

import os
import sys

MISSING_STACK = 77
BACKBONES = ("densenet121", "vgg16")
INPUT_SHAPE = (64, 64, 3)


def randomise(model, rng):
    """Random values for every weight, scaled so activations stay finite through 121 layers."""
    import numpy as np

    for layer in model.layers:
        values = []
        for weight in layer.weights:
            shape = tuple(weight.shape)
            name = weight.name.split("/")[-1]
            if name.startswith("kernel"):
                fan_in = int(np.prod(shape[:-1]))
                value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            elif name.startswith(("gamma", "moving_variance")):
                value = rng.uniform(0.5, 1.5, shape)
            else:  # bias, beta, moving_mean
                value = rng.normal(0.0, 0.1, shape)
            values.append(value.astype("float32"))
        if values:
            layer.set_weights(values)


def main(out_dir):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ["SM_FRAMEWORK"] = "tf.keras"
    try:
        import segmentation_models as sm
        import tf_keras  # noqa: F401
    except ImportError as err:  # the legacy stack is optional (`make legacy`)
        print(f"legacy stack missing: {err}", file=sys.stderr)
        return MISSING_STACK
    import numpy as np

    rng = np.random.default_rng(0)
    batch = rng.normal(0.0, 1.0, (2,) + INPUT_SHAPE).astype("float32")
    np.save(os.path.join(out_dir, "input.npy"), batch)
    for backbone in BACKBONES:
        model = sm.Unet(backbone, encoder_weights=None, input_shape=INPUT_SHAPE, classes=1, activation="sigmoid")
        randomise(model, rng)
        path = os.path.join(out_dir, f"{backbone}.h5")
        if backbone == "densenet121":
            model.save_weights(path)
        else:
            model.save(path)
        arrays = {f"{layer.name}:{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
        np.savez(os.path.join(out_dir, f"{backbone}_weights.npz"), **arrays)
        np.save(os.path.join(out_dir, f"{backbone}_pred.npy"), model.predict(batch, verbose=0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
