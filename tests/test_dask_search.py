"""scikit-learn's searches over chainrule's estimators run unchanged on a Dask cluster.

A ``GridSearchCV`` and a ``RandomizedSearchCV`` under ``joblib.parallel_backend("dask")``
on a ``LocalCluster`` of two worker processes give the same scores, ranking and best
network as the same searches run serially in this process.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed", reason="dask.distributed not installed: pip install chainrule[dask]")

import joblib  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402

from chainrule.sklearn import MLPClassifier  # noqa: E402


@pytest.fixture(scope="module")
def cluster_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def searches():
    estimator = MLPClassifier(max_iter=8, random_state=0, batch_size=40)
    grid = GridSearchCV(estimator, {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-1]}, cv=2)
    randomized = RandomizedSearchCV(estimator, {"learning_rate_init": [1e-3, 1e-2, 3e-2], "hidden_layer_sizes":
                                                [(3,), (6,), (5, 3)]}, n_iter=3, cv=2, random_state=1)
    return grid, randomized


def test_searches_on_a_dask_cluster_equal_the_serial_searches(cluster_client):
    x, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0)
    assert len(cluster_client.scheduler_info()["workers"]) == 2
    serial = searches()
    with pytest.warns(Warning):  # 8 epochs are too few to converge: scikit-learn's ConvergenceWarning
        for search in serial:
            search.fit(x, y)
    on_cluster = searches()
    with joblib.parallel_backend("dask"):
        for search in on_cluster:
            search.fit(x, y)
    # both worker processes took part (the count of task transitions each worker went through)
    processed = cluster_client.run(lambda dask_worker: getattr(dask_worker.state, "transition_counter", 1))
    assert len(processed) == 2 and all(count > 0 for count in processed.values())
    for a, b in zip(serial, on_cluster, strict=True):
        np.testing.assert_array_equal(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
        np.testing.assert_array_equal(a.cv_results_["rank_test_score"], b.cv_results_["rank_test_score"])
        assert a.best_params_ == b.best_params_
        for w_serial, w_cluster in zip(a.best_estimator_.coefs_, b.best_estimator_.coefs_, strict=True):
            np.testing.assert_array_equal(w_serial, w_cluster)
        np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
