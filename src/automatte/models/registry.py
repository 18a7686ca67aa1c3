"""The model registry: the one place where a string becomes a network (public as :mod:`automatte.registry`).

Every model family registers its variants with :func:`register_model` (a decorator on a factory function)
and a tiny ``*_test`` variant that the model tests iterate over. The family modules live beside this one in
``automatte.models`` and are imported on the first registry query, so importing ``automatte`` stays light.
The registry lives inside the package whose modules it imports, so its import circle with the families stays
inside one folder.

Example:
    >>> from automatte.registry import list_models
    >>> "aimnet" in list_models()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["ModelInfo", "register_model", "create_model", "list_models", "model_info"]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a variant.

    Attributes:
        name: registry name, e.g. ``"aimnet"``, ``"indexnet_ppid"``, ``"aimnet_test"``.
        family: model family (one file in ``automatte.models``), e.g. ``"aimnet"``.
        factory: builds the ``nn.Module``; keyword arguments override the variant's defaults.
        inputs: forward inputs in order: ``("image",)``, ``("image", "trimap")`` or ``("image", "mask")``.
        paper_params: the paper's parameter count in millions, if it reports one.
        paper_source: where ``paper_params`` comes from (paper, table).
        description: one line.
        defaults: the keyword arguments the variant passes to the family's constructor.
    """

    name: str
    family: str
    factory: Callable
    inputs: tuple[str, ...] = ("image",)
    paper_params: float | None = None
    paper_source: str | None = None
    description: str = ""
    defaults: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelInfo] = {}
_LOADED = False


def register_model(
    name: str,
    *,
    family: str,
    inputs: tuple[str, ...] = ("image",),
    paper_params: float | None = None,
    paper_source: str | None = None,
    description: str = "",
) -> Callable[[Callable], Callable]:
    """Decorator registering a factory ``fn(**kwargs) -> nn.Module`` under ``name``.

    Example:
        >>> @register_model("tiny_demo", family="demo", description="for the docs")  # doctest: +SKIP
        ... def tiny_demo(**kw):
        ...     return MyNet(width=8, **kw)
    """
    for needed in inputs:
        if needed not in ("image", "trimap", "mask"):
            raise ValueError(f"register_model({name!r}): unknown input {needed!r}")

    def wrap(fn: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].factory is not fn:
            raise ValueError(
                f"model {name!r} is registered twice ({_REGISTRY[name].factory.__module__} and {fn.__module__})"
            )
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            factory=fn,
            inputs=tuple(inputs),
            paper_params=paper_params,
            paper_source=paper_source,
            description=description or ((fn.__doc__ or "").strip().splitlines() or [""])[0],
        )
        return fn

    return wrap


def _load_families() -> None:
    """Import every module of ``automatte.models`` once, so that their decorators run."""
    global _LOADED
    if _LOADED:
        return
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_") and not module.ispkg:
            importlib.import_module(f"automatte.models.{module.name}")
    _LOADED = True


def list_models(pattern: str = "*", *, family: str | None = None, include_test: bool | None = None) -> list[str]:
    """Sorted registry names matching a glob ``pattern`` (and ``family``).

    Args:
        pattern: glob on the name, e.g. ``"*_test"``.
        family: only this family.
        include_test: ``None`` (default) lists test variants only when ``pattern`` asks for them
            (contains ``"test"``); ``True`` / ``False`` forces it.
    """
    _load_families()
    if include_test is None:
        include_test = "test" in pattern
    names = []
    for name, info in _REGISTRY.items():
        if not fnmatch.fnmatch(name, pattern) or (family is not None and info.family != family):
            continue
        if name.endswith("_test") and not include_test:
            continue
        names.append(name)
    return sorted(names)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered name; unknown names raise a ValueError listing close ones."""
    _load_families()
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_models())}"
        raise ValueError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs):
    """Build a registered model; ``kwargs`` override the variant's defaults (e.g. ``pretrained=PATH``).

    The returned module carries ``model_name`` and ``model_inputs`` attributes.

    Example:
        >>> from automatte.models.registry import create_model
        >>> net = create_model("aimnet_test")  # doctest: +SKIP
        >>> net.model_inputs  # doctest: +SKIP
        ('image',)
    """
    info = model_info(name)
    model = info.factory(**kwargs)
    model.model_name = name
    model.model_inputs = info.inputs
    return model
