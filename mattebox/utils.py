"""Small helpers shared across mattebox."""
import datetime
import warnings

from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mattebox module so that its components are registered.

    Args:
        init_default_scope: also make ``mattebox`` the current default scope, so that
            registries resolve names such as ``'DIM'`` to mattebox's components.
    """
    import mattebox.datasets  # noqa: F401
    import mattebox.engine  # noqa: F401
    import mattebox.evaluation  # noqa: F401
    import mattebox.models  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mattebox', scope_name='mattebox')
    elif current.scope_name != 'mattebox':
        warnings.warn(f'The current default scope "{current.scope_name}" is not '
                      '"mattebox"; a new default scope named mattebox-<time> is created.')
        name = f'mattebox-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mattebox')
