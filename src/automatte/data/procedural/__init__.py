"""Procedural foreground generators and backgrounds behind ``automatte.data.synth``.

``opaque`` (SO), ``transparent`` (STM) and ``nonsalient`` (NS) each expose one generator per category,
``generator(rng, size, light) -> Layer``; ``backgrounds`` makes and crops backgrounds; ``common`` holds
noise, supersampled drawing and lighting helpers.
"""
