"""The builder images made here: their layout, and an OCI archive a real image tool accepts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cachebuild.builders import buildah, buildkit, kaniko
from e2e.images import buildkit_recipe, ensure_image, oci_archive


def test_images_have_the_upstream_layout(images: dict[str, Path]) -> None:
    bk = images[buildkit.IMAGE] / "rootfs"
    binaries = (
        "buildkitd",
        "buildctl",
        "buildctl-daemonless.sh",
        "rootlesskit",
        "buildkit-runc",
        "runc",
        "newuidmap",
        "newgidmap",
    )
    for name in binaries:
        assert os.access(bk / "usr/bin" / name, os.X_OK), name
    assert os.readlink(bk / "bin/sh") == "/bin/busybox"
    assert (bk / "etc/subuid").read_text() == "user:100000:65536\n"
    assert (bk / "home/user/.local/share/buildkit").stat().st_uid == 1000
    config = json.loads((images[buildkit.IMAGE] / "config.json").read_text())
    assert config["User"] == "1000:1000"
    assert "BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock" in config["Env"]
    kn = images[kaniko.IMAGE] / "rootfs"
    assert os.access(kn / "kaniko/executor", os.X_OK) and os.access(kn / "kaniko/warmer", os.X_OK)
    assert os.readlink(kn / "bin/sh") == "/busybox/sh"
    assert (kn / "kaniko/ssl/certs/ca-certificates.crt").stat().st_size > 1000
    assert json.loads((images[kaniko.IMAGE] / "config.json").read_text())["WorkingDir"] == "/workspace"
    bh = images[buildah.IMAGE] / "rootfs"
    assert 'driver = "vfs"' in (bh / "etc/containers/storage.conf").read_text()
    assert (bh / "lib64/ld-linux-x86-64.so.2").is_file()


def test_an_image_is_made_again_only_when_an_input_changes(images: dict[str, Path]) -> None:
    recipe = buildkit_recipe()
    assert ensure_image(recipe).folder == images[buildkit.IMAGE]
    recipe.text("/etc/motd", "changed\n")
    assert recipe.digest() != buildkit_recipe().digest()


def test_the_oci_archive_is_accepted_by_buildah(images: dict[str, Path], tmp_path: Path) -> None:
    archive = oci_archive(images[kaniko.IMAGE])
    store = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"), "--storage-driver", "vfs"]
    pulled = subprocess.run(["buildah", *store, "pull", f"oci-archive:{archive}"], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    inspected = subprocess.run(["buildah", *store, "inspect", "--type", "image", pulled.stdout.strip().splitlines()[-1]],
                               capture_output=True, text=True, check=True)  # fmt: skip
    config = json.loads(inspected.stdout)["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/kaniko/executor"]
    assert config["WorkingDir"] == "/workspace"
    subprocess.run(["buildah", *store, "rmi", "--all", "--force"], capture_output=True, check=False)
