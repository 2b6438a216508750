"""Conventions shared by every builder in dermkit.models: ``input_shape`` first, options keyword-only."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("tensorflow")

import dermkit.models  # noqa: E402

#: GAN builders take no input: every option keyword-only (bisla2019: latent length and image size).
GAN_BUILDERS = ["coupled_dcgan", "dcgan_discriminator", "dcgan_generator"]
BUILDERS = sorted(set(dermkit.models._BUILDERS) - set(GAN_BUILDERS))


def test_every_builder_is_listed():
    assert BUILDERS == ["alexnet", "alexnet_gap_embedding", "densenet_classifier", "dilated_unet",
                        "hierarchical_classifier", "partialconv_unet", "resnet50_classifier", "unet",
                        "vgg16_cbam_classifier", "vgg16_fcn"]
    assert sorted(set(dermkit.models._BUILDERS) & set(GAN_BUILDERS)) == GAN_BUILDERS
    assert set(dermkit.models._BUILDERS) <= set(dermkit.models.__all__)


@pytest.mark.parametrize("name", GAN_BUILDERS)
def test_gan_builders_are_keyword_only(name):
    parameters = inspect.signature(getattr(dermkit.models, name)).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)


@pytest.mark.parametrize("name", BUILDERS)
def test_options_are_keyword_only_after_input_shape(name):
    parameters = list(inspect.signature(getattr(dermkit.models, name)).parameters.values())
    assert parameters[0].name == "input_shape"
    assert parameters[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    positional = [p.name for p in parameters[1:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == [], f"{name}: options that can be passed by position: {positional}"


#: Builders whose model has a pretrained (ImageNet or face-AlexNet) encoder: they take encoder_weights.
WITH_ENCODER = ["alexnet", "alexnet_gap_embedding", "densenet_classifier", "hierarchical_classifier",
                "resnet50_classifier", "unet", "vgg16_cbam_classifier", "vgg16_fcn"]
#: partialconv_unet takes RGB in [0, 1] and a mask by its own definition (Liu et al.): nothing to preprocess.
WITHOUT_PREPROCESS = ["partialconv_unet"]


@pytest.mark.parametrize("name", BUILDERS)
def test_one_weights_rule_and_a_name(name):
    """Issue 18: weights= on every builder, encoder_weights= where there is a pretrained encoder,
    preprocess= where the model takes images, and name=."""
    parameters = inspect.signature(getattr(dermkit.models, name)).parameters
    assert "weights" in parameters and "name" in parameters, name
    assert ("encoder_weights" in parameters) == (name in WITH_ENCODER), name
    assert ("preprocess" in parameters) == (name not in WITHOUT_PREPROCESS), name


@pytest.mark.parametrize("name", BUILDERS)
def test_a_positional_option_is_a_type_error(name):
    # e.g. vgg16_fcn((32, 32, 3), 4) used to build a 4-class model silently; num_classes must be named.
    with pytest.raises(TypeError, match="positional argument"):
        getattr(dermkit.models, name)((32, 32, 3), 4)


def test_unet_names_the_builder_after_the_submodule_is_imported():
    import importlib
    import types

    module = importlib.import_module("dermkit.models.unet")  # binds the submodule to dermkit.models.unet
    from dermkit.models import unet

    assert isinstance(module, types.ModuleType) and not isinstance(unet, types.ModuleType)
    assert unet is module.unet and dermkit.models.unet is module.unet


def test_dilated_unet_names_the_builder_after_the_submodule_is_imported():
    import importlib
    import types

    module = importlib.import_module("dermkit.models.dilated_unet")
    from dermkit.models import dilated_unet

    assert not isinstance(dilated_unet, types.ModuleType) and dilated_unet is module.dilated_unet
    assert dermkit.models.dilated_unet is module.dilated_unet
