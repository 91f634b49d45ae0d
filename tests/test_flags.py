"""Each command takes only the flags it uses; a flag that does not apply is an error naming it (and the
engine or control plane), exit 2, nothing on stdout. Driven through the real command line."""

import subprocess
import sys

import pytest
import yaml

IMG = "registry.example.com/team/app:1.0"
LOCAL = "127.0.0.1:47999/team/app:1"


def cachebuild(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def refused(done, message):
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == f"cachebuild: error: {message}\n"


def test_build_help_lists_only_what_the_local_engine_uses():
    text = cachebuild("build", "--help").stdout
    for flag in ("--workspace-pvc", "--docker-config-secret", "--builder-image", "--kaniko-cache-pvc", "--warm-image",
                 "--cache-tag", "--cache-mode", "--engine", "--on"):  # fmt: skip
        assert flag not in text, flag
    for shown in ("PATH", "-t REF", "-f PATH", "--build-arg", "--target", "--platform", "--no-cache", "--no-remote-cache"):
        assert shown in text, shown


def test_help_states_the_defaults():
    text = " ".join(cachebuild("workflow", "--help").stdout.split())
    assert "the builder (default buildkit)" in text and "the control plane (default argo)" in text
    submit = " ".join(cachebuild("submit", "--help").stdout.split())
    assert "the namespace to create the builds in (default: argo with --on argo;" in submit
    assert "printed object" not in submit


@pytest.mark.parametrize(
    ("flag", "value", "why"),
    [
        ("--workspace-pvc", "src", "a cluster setting; the local engine builds from a folder, the workspace "
         "(cachebuild build PATH, or --workspace DIR)"),
        ("--docker-config-secret", "creds", "a cluster setting; the local engine reads credentials from a docker config "
         "file (--docker-config FILE)"),
        ("--builder-image", "r.io/b:1", "a cluster setting; the local engine runs this machine's buildah"),
        ("--insecure-registry", "r.io", "a cluster setting; the local engine speaks plain HTTP to registries on 127.0.0.1 or "
         "localhost only, TLS to any other"),
        ("--kaniko-cache-pvc", "kc", "only the kaniko engine reads it; the local engine builds with buildah"),
        ("--cache-tag", "t", "only the buildkit engine reads it; the local engine builds with buildah"),
        ("--engine", "kaniko", "the local engine always builds with buildah; --engine is for cachebuild workflow and submit"),
        ("--push", None, "cachebuild build always pushes every -t/--image"),
        ("--imgae", "x", "did you mean --image?"),
    ],
)  # fmt: skip
def test_build_refuses_what_it_does_not_use_and_says_what_to_write(flag, value, why, tmp_path):
    done = cachebuild("build", str(tmp_path), "-t", LOCAL, flag, *([value] if value else []))
    refused(done, f"{flag} is not a flag of cachebuild build: {why} ('cachebuild build --help' lists its flags)")


def test_build_refuses_cluster_settings_in_a_specs_file_too(tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(f"- image: {LOCAL}\n  workspace-pvc: src\n")
    done = cachebuild("build", "--specs", str(specs), "--workspace", str(tmp_path))
    refused(done, "specs[0].workspace-pvc: a cluster setting; the local engine builds from a folder, the workspace (got 'src')")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--engine", "kaniko", "--cache-mode", "max"],
         "--cache-mode: only the buildkit engine reads it, not kaniko (got 'max')"),
        (["--engine", "buildah", "--cache-tag", "main"],
         "--cache-tag: only the buildkit engine reads it, not buildah (got 'main')"),
        (["--cache-ttl", "1h"], "--cache-ttl: only the kaniko and buildah engines read it, not buildkit (got '1h')"),
        (["--kaniko-cache-pvc", "kc"], "--kaniko-cache-pvc: only the kaniko engine reads it, not buildkit (got 'kc')"),
        (["--warm-image", "docker.io/library/a:1"], "--warm-image: only the kaniko engine has a warmer, not buildkit "
         "(got ['docker.io/library/a:1'])"),
        (["--engine", "buildah", "--kaniko-cache-size", "9Gi"], "--kaniko-cache-size: only the kaniko engine has a cache "
         "claim, not buildah (got '9Gi')"),
        (["--on", "tekton", "--cluster-scope"], "--cluster-scope: an Argo option: it does not apply to --on tekton"),
        (["--on", "tekton", "--workspace-size", "2Gi"], "--workspace-size: an Argo option: it does not apply to --on tekton "
         "(got '2Gi')"),
        (["--on", "tekton", "--engine", "kaniko", "--kaniko-cache-size", "9Gi"], "--kaniko-cache-size: an Argo option: it "
         "does not apply to --on tekton (got '9Gi')"),
        (["--inline", "--cluster-scope"], "--cluster-scope: references installed ClusterWorkflowTemplates: --inline "
         "references none"),
        (["--tekton-git-url", "https://git.example.com/me/cb.git"], "--tekton-git-url: a Tekton option: it does not apply "
         "to --on argo (got 'https://git.example.com/me/cb.git')"),
        (["--on", "tekton", "--inline", "--tekton-ref", "git"], "--tekton-ref: says how to reference installed Tasks: "
         "--inline embeds them (got 'git')"),
        (["--on", "tekton", "--tekton-ref", "installed", "--tekton-git-revision", "v1"], "--tekton-git-revision: is for "
         "--tekton-ref git, not --tekton-ref installed (got 'v1')"),
        (["--workspace-size", "2Gi"], "--workspace-size: no workspace claim is made: only a git context without "
         "--workspace-pvc gets one (got '2Gi')"),
        (["--engine", "kaniko", "--kaniko-cache-pvc", "kc", "--kaniko-cache-size", "9Gi"], "--kaniko-cache-size: no cache "
         "claim is made: every build names --kaniko-cache-pvc (got '9Gi')"),
        (["--no-remote-cache", "--cache-repo", "registry.example.com/c"], "--cache-repo: is for the remote cache, which is "
         "off (cache false) (got 'registry.example.com/c')"),
    ],
)  # fmt: skip
def test_workflow_refuses_a_flag_that_does_not_apply(argv, message):
    refused(cachebuild("workflow", "--image", IMG, "--workspace-pvc", "src", *argv), message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--on", "tekton", "--argo-server", "https://argo.example.com", "--token", "t"],
         "--argo-server: an Argo option: it does not apply to --on tekton (got 'https://argo.example.com')"),
        (["--on", "tekton", "--from-template"], "--from-template: an Argo option: it does not apply to --on tekton"),
        (["--argo-server", "https://argo.example.com", "--kubeconfig", "/k"],
         "--kubeconfig: a Tekton option: it does not apply to --on argo (got '/k')"),
        (["--argo-server", "https://argo.example.com", "--ca-bundle", "/ca.pem", "--insecure-skip-verify"],
         "--insecure-skip-verify: does not go with --ca-bundle: --ca-bundle verifies the certificate, --insecure-skip-verify "
         "does not"),
        (["--argo-server", "http://argo.example.com", "--ca-bundle", "/ca.pem"],
         "--ca-bundle: is about TLS: the --argo-server is http:// (got '/ca.pem')"),
        (["--argo-server", "https://argo.example.com", "--from-template", "--inline"],
         "--inline: does not apply with --from-template: the installed template runs; nothing is embedded"),
        (["--on", "tekton", "--in-cluster", "--kube-context", "ci"],
         "--kube-context: does not go with --in-cluster: --in-cluster uses the pod's service account, not a kubeconfig context"),
    ],
)  # fmt: skip
def test_submit_refuses_a_connection_flag_that_does_not_apply(argv, message):
    refused(cachebuild("submit", "--image", IMG, "--workspace-pvc", "src", *argv), message)


def test_workflow_and_submit_refuse_the_local_engines_flags():
    refused(
        cachebuild("workflow", "--image", IMG, "--workspace-pvc", "src", "--fresh"),
        "--fresh is not a flag of cachebuild workflow: for cachebuild build (a new pod always starts with an empty layer "
        "store) ('cachebuild workflow --help' lists its flags)",
    )


def test_docker_spellings_work_everywhere():
    done = cachebuild("workflow", "-t", IMG, "--tag", "registry.example.com/team/app:latest", "-f", "Dockerfile.prod",
                      "--workspace-pvc", "src", "--platform", "linux/amd64,linux/arm64")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (task,) = yaml.safe_load(done.stdout)["spec"]["templates"][0]["dag"]["tasks"]
    params = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    assert params["image"] == f"{IMG}\nregistry.example.com/team/app:latest"
    assert params["dockerfile"] == "Dockerfile.prod" and params["platforms"] == "linux/amd64\nlinux/arm64"


def test_a_bare_build_arg_takes_its_value_from_the_environment():
    env_done = subprocess.run(
        [sys.executable, "-m", "cachebuild", "workflow", "-t", IMG, "--workspace-pvc", "src", "--build-arg", "HTTP_PROXY"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HTTP_PROXY": "http://proxy:3128"},
    )
    assert env_done.returncode == 0, env_done.stderr
    assert "HTTP_PROXY=http://proxy:3128" in env_done.stdout
    refused(
        cachebuild("workflow", "-t", IMG, "--workspace-pvc", "src", "--build-arg", "NOT_SET_ANYWHERE_HERE"),
        "--build-arg: has no value and is not set in the environment: write KEY=VALUE (got 'NOT_SET_ANYWHERE_HERE')",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{ctx}", "--context", "app"],
         "--context: the context is given twice: PATH ({ctx}) and --context; give one (got 'app')"),
        (["--context", "/elsewhere/app", "--workspace", "{ws}"], "--context: is outside the workspace {ws}: give the folder as "
         "PATH (cachebuild build /elsewhere/app) or as --workspace (got '/elsewhere/app')"),
        (["{ctx}", "-f", "/etc/hostname"], "--dockerfile: is outside the context {ctx}: buildah reads it from there "
         "(got '/etc/hostname')"),
        (["{ctx}", "-f", "Nope"], "--dockerfile: no such file in the context {ctx} (got 'Nope')"),
        ([], "--image: at least one destination is required: --image REF (or -t REF), or --specs FILE"),
    ],
)  # fmt: skip
def test_build_path_errors_suggest_the_right_flag(argv, message, tmp_path):
    ws = tmp_path / "ws"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "Dockerfile").write_text("FROM scratch\n")
    argv = [a.format(ctx=ws / "app", ws=ws) for a in argv]
    message = message.format(ctx=ws / "app", ws=ws)
    refused(cachebuild("build", *argv, *(["-t", LOCAL] if argv else [])), message)
