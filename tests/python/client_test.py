"""The official Python client against skiff: typed create, list, watch, patch, delete.

Run by tests/python_client.rs with KUBECONFIG pointing at a fresh `skiff up`.
"""

import os
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=os.environ["KUBECONFIG"])
core = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "py-test"

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

created = core.create_namespaced_config_map(
    NS,
    client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="c1", labels={"app": "py"}),
        data={"k": "v"},
    ),
)
assert created.metadata.resource_version, created
assert created.metadata.uid, created

listed = core.list_namespaced_config_map(NS, label_selector="app=py")
assert [c.metadata.name for c in listed.items] == ["c1"], listed
assert core.list_namespaced_config_map(NS, label_selector="app=other").items == []

events = []
stream = watch.Watch()


def follow():
    for event in stream.stream(
        core.list_namespaced_config_map,
        NS,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=20,
    ):
        events.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            stream.stop()


watcher = threading.Thread(target=follow)
watcher.start()
time.sleep(0.5)
core.create_namespaced_config_map(
    NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c2"), data={"a": "b"})
)

patched = core.patch_namespaced_config_map("c1", NS, {"data": {"k": "v2"}})
assert patched.data == {"k": "v2"}, patched.data

deployment = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="web", image="nginx:1.25")]
            ),
        ),
    ),
)
made = apps.create_namespaced_deployment(NS, deployment)
assert made.spec.replicas == 2
assert made.spec.strategy.type == "RollingUpdate"
scaled = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 5}})
assert scaled.spec.replicas == 5, scaled
assert apps.read_namespaced_deployment("web", NS).spec.replicas == 5

try:
    core.read_namespaced_config_map("nope", NS)
    raise AssertionError("reading a missing config map succeeded")
except ApiException as e:
    assert e.status == 404, e

try:
    bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"))
    core.create_namespaced_config_map(NS, bad)
    raise AssertionError("an invalid name was accepted")
except ApiException as e:
    assert e.status == 422, e

core.delete_namespaced_config_map("c2", NS)

# kube answers a Service delete with the Service itself; the client decodes it as one.
core.create_namespaced_service(
    NS,
    client.V1Service(
        metadata=client.V1ObjectMeta(name="s1"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
    ),
)
gone = core.delete_namespaced_service("s1", NS)
assert gone.kind == "Service" and gone.spec.ports[0].port == 80, gone
watcher.join(20)
assert ("ADDED", "c2") in events, events
assert ("MODIFIED", "c1") in events, events
assert ("DELETED", "c2") in events, events

core.delete_namespace(NS)
print("python client: ok", events)
