"""A multi-node Ray cluster on this host (`ray.cluster_utils.Cluster`: one raylet per
node), started once per test module whose module-scoped fixture runs `start_cluster`.

The head node has no CPUs, so no worker actor lands on it; `WORKER_NODES` nodes with one
CPU each then hold one worker each (workers=3 spreads across three nodes). A test may
remove nodes and add fresh ones through the fixture's `Cluster`."""

import os

import pytest

WORKER_NODES = 3


def need_ray(state_api=False):
    """Skips without Ray (fails in CI); `state_api`: also `ray.util.state`, which comes
    with `ray[default]`."""
    try:
        import ray  # noqa: F401
        from ray.cluster_utils import Cluster  # noqa: F401

        if state_api:
            from ray.util.state import list_actors  # noqa: F401
    except ImportError as e:
        msg = "ray%s is not installed (%s): pip install '.[distributed]'" % (
            "[default]" if state_api else "",
            e,
        )
        if os.environ.get("CI") or os.environ.get("FERROKERAS_REQUIRE_DATA"):
            pytest.fail(msg + "; in CI this is a failure")
        pytest.skip(msg)


def start_cluster():
    """Generator for a module-scoped fixture: yields the `Cluster`, Ray connected to it."""
    need_ray()
    import ray
    from ray.cluster_utils import Cluster

    # small object stores: the tests move kilobytes
    node_args = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "object_store_memory": 80 * 1024 * 1024,
            "include_dashboard": False,
            # a removed node is declared dead after about 4 s (Ray's default: about 30 s),
            # so its CPUs leave the cluster before the next test places actors
            "_system_config": {
                "health_check_period_ms": 1000,
                "health_check_timeout_ms": 1000,
                "health_check_failure_threshold": 4,
            },
        },
    )
    nodes = [cluster.add_node(**node_args) for _ in range(WORKER_NODES)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.worker_nodes_list = nodes
    cluster.node_args = node_args
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
