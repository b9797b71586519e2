#!/usr/bin/env python3
"""tests/image/kube-pod.py: the pod template of a Kubernetes Deployment, StatefulSet or Job as a
`kind: Pod` that `podman kube play` (4.3) runs as Kubernetes would run one of its pods.

podman 4.3 plays no StatefulSet or Job, and gives a Deployment's init container the pod's
restartPolicy Always, so it restarts forever even after exiting 0 (fixed in later podman). Played
as a Pod with restartPolicy OnFailure, the init container runs once and the app after it. The
app containers' images (example.invalid/...) are replaced by APP_IMAGE; the init containers keep
theirs, the service-precheck image under test. Needs PyYAML (a dependency of podman-compose).

Usage: kube-pod.py MANIFEST POD_NAME APP_IMAGE OUT
Writes the Pod to OUT and prints one line per container, "init NAME" or "app NAME", with the
names podman gives them (POD_NAME-CONTAINER).
"""

import sys

import yaml


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: kube-pod.py MANIFEST POD_NAME APP_IMAGE OUT")
    manifest, pod_name, app_image, out = sys.argv[1:]
    with open(manifest, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if len(docs) != 1 or "template" not in docs[0].get("spec", {}):
        sys.exit(f"{manifest}: wanted one Deployment, StatefulSet or Job with a pod template")
    template = docs[0]["spec"]["template"]
    spec = template["spec"]
    spec["restartPolicy"] = "OnFailure"
    for container in spec["containers"]:
        container["image"] = app_image
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name, "labels": template.get("metadata", {}).get("labels", {})},
        "spec": spec,
    }
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(pod, f, sort_keys=False)
    for container in spec.get("initContainers", []):
        print(f"init {pod_name}-{container['name']}")
    for container in spec["containers"]:
        print(f"app {pod_name}-{container['name']}")


if __name__ == "__main__":
    main()
