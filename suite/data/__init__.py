"""Datasets: `create(name, **params)` a registered dataset, `list()` their names.

The registry and the `Dataset` type are in `suite.data.registry`; each dataset module registers
its factories with `@register_dataset("name")` and is imported below.
"""

from suite.data import (  # noqa: F401  (registers the datasets)
    imdb,
    mqar,
    mr,
    rotten_tomatoes,
    synthetic,
    tinyshakespeare,
    toy,
    yelp,
)
from suite.data.registry import (  # noqa: F401 - the package's API
    FOLD,
    FOLDS,
    PROTOCOL_FACETS,
    REGISTRY,
    Dataset,
    create,
    cross_validated,
    fold_params,
    list,  # noqa: A004 - the registry API reads best as data.list()
    locations,
    register_dataset,
    resolve_params,
)
