"""The seven-channel input of bisla2019's segmentation network (Section 3.2.3: "The input to the segmentation
architecture consists of seven channels (RGB and HSV channels and luminance) ... We normalized each channel
of the input to mean value 0.5 and standard deviation 0.5").

Channels, in order: R, G, B; H, S, V (OpenCV's float HSV with the hue divided by 360, so each lies in [0, 1]);
CIELAB ``L*/100`` (the reference notes: "L (CIELAB L scaled to [0,1])"). Each channel is then mapped by
``(x − 0.5) / 0.5`` to [−1, 1]: "mean 0.5 and standard deviation 0.5" is read as the authors' PyTorch
``transforms.Normalize(mean=0.5, std=0.5)`` — fixed constants, not statistics of the data.

NumPy + OpenCV, no TensorFlow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["seven_channel_input", "SEVEN_CHANNELS", "CHANNEL_MEAN", "CHANNEL_STD"]

#: Channel names of :func:`seven_channel_input`, in order.
SEVEN_CHANNELS = ("R", "G", "B", "H", "S", "V", "L")
#: The fixed normalisation constants (PyTorch ``Normalize(0.5, 0.5)``).
CHANNEL_MEAN = 0.5
CHANNEL_STD = 0.5


def _one(rgb: np.ndarray) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # float32: H in [0, 360], S, V in [0, 1]
    hsv[..., 0] /= 360.0
    lightness = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., :1] / 100.0
    return np.concatenate([rgb, hsv, np.clip(lightness, 0.0, 1.0)], axis=-1)


def seven_channel_input(image) -> np.ndarray:
    """RGB → the normalised 7-channel array ``[R, G, B, H, S, V, L]`` (module docstring; bisla2019 §3.2.3).

    Args:
        image: RGB ``[H, W, 3]`` or a batch ``[N, H, W, 3]``, float in [0, 1] (uint8 is scaled by 1/255).

    Returns:
        ``float32 [..., H, W, 7]``, each channel ``(x − 0.5) / 0.5`` with ``x`` in [0, 1], so values in [−1, 1].

    Raises:
        ValueError: not RGB with 3 or 4 dimensions; no pixels (H or W is 0); not float or uint8; NaN or values
            outside [0, 1].
    """
    from dermkit._validation import as_rgb01

    array = np.asarray(image)
    array = array.astype(np.float32) if array.ndim == 4 and len(array) == 0 and array.shape[1:3].count(0) == 0 \
        else as_rgb01(array, ndims=(3, 4))  # the one image rule (dermkit._validation)
    if array.ndim == 3:
        channels = _one(array)
    else:
        channels = np.stack([_one(np.ascontiguousarray(x)) for x in array]) if len(array) else np.zeros(
            array.shape[:-1] + (7,), np.float32)
    return ((channels - CHANNEL_MEAN) / CHANNEL_STD).astype(np.float32)
