import inspect

from service.kernel import errors as kernel_errors
from tests.unit.service.kernel.declared import modules_named


def test_every_error_has_a_code_a_kind_and_a_raised_when_docstring():
    # The tree's root and generic errors are the kernel's; the areas' errors build on them.
    modules = modules_named("errors")
    assert kernel_errors in modules
    members = {c for m in modules for _, c in inspect.getmembers(m, inspect.isclass)}
    classes = [
        c
        for c in members
        if issubclass(c, kernel_errors.TracecertError) and c is not kernel_errors.TracecertError
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert cls.__doc__ and cls.__doc__.startswith("Raised when"), cls
        assert cls.default_detail.endswith((".", "'."))
