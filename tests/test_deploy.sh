#!/usr/bin/env bash
# tests/test_deploy.sh - the deployment files agree with the image and with the server:
# deploy/cloudrun/service.yaml, deploy/k8s/*.yaml and the Containerfile.
#
#  1. Every deploy/**/*.yaml parses (PyYAML's safe_load_all) and each document has an
#     apiVersion and a kind.
#  2. The serve manifests (the Cloud Run Service, the k8s Deployment): args start with
#     `serve` and name only options of `leanpix serve --help-markdown` (the server's
#     option table), each option with a value given one; the budget serve will take in
#     the manifest's memory limit (its --max-mem, else the table's default, at most
#     LP_DEFAULT_CGROUP_SHARE% of the limit minus LP_DEFAULT_BASELINE_MIB from
#     include/leanpix/machine.h) holds at least one render worker (the server's own
#     lp_server_workers_for, asked by starting it: see 4); Cloud Run's
#     containerConcurrency is at most --queue (the server never 503s what Cloud Run
#     admitted); behind the platform's proxy the per-address limits are off
#     (--per-ip-connections 0, --per-ip-upload-mem = --upload-mem); probes GET /healthz
#     on the container's port; the port is the image's PORT (Containerfile `ENV PORT=`);
#     the pods run as the image's user (Containerfile `USER`); the image is leanpix at
#     the project's version.
#  3. The batch Indexed Job: --shard INDEX/N with N = completions, --max-mem within the
#     share of its memory limit, only options of `leanpix batch --help`; docs/batch.md
#     points at the file and shows the Job's command as the file has it.
#  4. The real server is started with each serve manifest's args and the budget of 2
#     (--max-mem, --workers from the CPU limit, --listen 127.0.0.1:0): it must start and
#     report the manifest's queue and at least one worker.
# Needs python3 with PyYAML (scripts/deps.sh test installs python3-yaml).
#
# Environment (tests/CMakeLists.txt): LP_SOURCE_DIR, LP_BIN, LP_TEST_TMP.
set -u
src=${LP_SOURCE_DIR:?} bin=${LP_BIN:?} tmp=${LP_TEST_TMP:?}/test_deploy
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "test_deploy: skipped: python3 with PyYAML is missing (scripts/deps.sh test installs python3-yaml)"
  exit 77
fi
rm -rf "$tmp"; mkdir -p "$tmp"
exec python3 - "$src" "$bin" "$tmp" <<'EOF'
import glob, os, re, shlex, subprocess, sys, time
import yaml

src, bin, tmp = sys.argv[1:4]
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)
    return ok

MIB = 1 << 20
def size(text):
    """Kubernetes quantities (Mi, Gi, M, G) and leanpix sizes (M = MiB, G = GiB)."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|M|G)?i?B?", str(text).strip())
    if not m:
        raise ValueError(f"not a size: {text}")
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": MIB, "Gi": 1 << 30,
                              "K": 1 << 10, "M": MIB, "G": 1 << 30}[m.group(2)]
def mib_text(text):  # "80 MiB" in help texts
    m = re.match(r"(\d+) MiB", text)
    return int(m.group(1)) * MIB

# the one place of each default: machine.h, the server's option table, the Containerfile
machine = open(os.path.join(src, "include/leanpix/machine.h")).read()
share = int(re.search(r"#define LP_DEFAULT_CGROUP_SHARE (\d+)", machine).group(1))
baseline = int(re.search(r"#define LP_DEFAULT_BASELINE_MIB (\d+)", machine).group(1)) * MIB
table = subprocess.run([bin, "serve", "--help-markdown"], capture_output=True, text=True, check=True).stdout
serve_opts = {}  # name -> (takes a value, default text)
for name, value, default in re.findall(r"^\| `--([a-z-]+)( [A-Z:]+)?` \| ([^|]*) \|", table, re.M):
    serve_opts[name] = (bool(value), default.strip())
check({"queue", "max-mem", "per-ip-connections", "upload-mem", "per-ip-upload-mem"} <= set(serve_opts),
      f"serve --help-markdown lacks options the manifests use: {sorted(serve_opts)}")
default_budget = mib_text(serve_opts["max-mem"][1])
batch_help = subprocess.run([bin, "batch", "--help"], capture_output=True, text=True).stdout
containerfile = open(os.path.join(src, "Containerfile")).read()
image_port = int(re.search(r"^ENV PORT=(\d+)", containerfile, re.M).group(1))
image_uid = int(re.search(r"^USER (\d+)", containerfile, re.M).group(1))
version = re.search(r"project\(leanpix VERSION ([0-9.]+)", open(os.path.join(src, "CMakeLists.txt")).read()).group(1)

# 1. parse everything
docs = {}
files = sorted(glob.glob(os.path.join(src, "deploy/**/*.yaml"), recursive=True))
check(len(files) >= 3, f"deploy/ has {len(files)} YAML files, expected the Cloud Run service and k8s manifests")
for f in files:
    rel = os.path.relpath(f, src)
    try:
        docs[rel] = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        check(False, f"{rel}: does not parse: {e}")
        continue
    for d in docs[rel]:
        check(isinstance(d, dict) and d.get("apiVersion") and d.get("kind"), f"{rel}: a document without apiVersion/kind")
def find(rel, kind):
    found = [d for d in docs.get(rel, []) if d.get("kind") == kind]
    check(len(found) == 1, f"{rel}: expected one {kind}, found {len(found)}")
    return found[0] if found else None

def parse_serve_args(rel, args):
    """The options given to serve: {name: value or True}."""
    if not check(args and args[0] == "serve", f"{rel}: args must start with serve: {args}"):
        return {}
    given, i = {}, 1
    while i < len(args):
        a = args[i]
        name = a[2:] if a.startswith("--") else None
        if not check(name in serve_opts, f"{rel}: {a} is not an option of leanpix serve"):
            i += 1
            continue
        if serve_opts[name][0]:
            if not check(i + 1 < len(args), f"{rel}: {a} has no value"):
                break
            given[name] = args[i + 1]
            i += 2
        else:
            given[name] = True
            i += 1
    return given

def port_of(container, probe_port):
    ports = container.get("ports", [])
    if isinstance(probe_port, str):
        ports = [p for p in ports if p.get("name") == probe_port]
        return ports[0]["containerPort"] if ports else None
    return probe_port

def check_pod(rel, pod_spec, container):
    check(str(container.get("image", "")).endswith(f"/leanpix:{version}"),
          f"{rel}: image {container.get('image')} is not leanpix:{version}")
    sc = {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
    if "runAsUser" in sc:
        check(sc["runAsUser"] == image_uid, f"{rel}: runAsUser {sc['runAsUser']} is not the image's user {image_uid}")
    limits = container.get("resources", {}).get("limits", {})
    check("memory" in limits, f"{rel}: no memory limit")
    return size(limits.get("memory", "0")), float(str(limits.get("cpu", "1")).rstrip("m")) / (1000 if str(limits.get("cpu", "")).endswith("m") else 1)

# 2. the serve manifests
serve_runs = []
def check_serve(rel, pod_spec, container, concurrency=None):
    limit, cpus = check_pod(rel, pod_spec, container)
    given = parse_serve_args(rel, container.get("args") or [])
    available = limit * share // 100 - baseline
    budget = min(size(given.get("max-mem", default_budget)), available)
    check("max-mem" not in given or size(given["max-mem"]) <= available,
          f"{rel}: --max-mem {given.get('max-mem')} is over {share}% of the {limit // MIB} MiB limit minus the baseline")
    queue = int(given.get("queue", serve_opts["queue"][1].split()[0]))
    if concurrency is not None:
        check(concurrency <= queue, f"{rel}: containerConcurrency {concurrency} is over --queue {queue}")
    check(given.get("per-ip-connections") == "0", f"{rel}: behind a proxy --per-ip-connections must be 0")
    check("upload-mem" in given and given.get("per-ip-upload-mem") == given.get("upload-mem"),
          f"{rel}: behind a proxy --per-ip-upload-mem must equal --upload-mem")
    check("listen" not in given, f"{rel}: --listen is the entrypoint's (0.0.0.0:$PORT)")
    ports = [p["containerPort"] for p in container.get("ports", [])]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    port = int(env.get("PORT", image_port))
    check(ports == [port], f"{rel}: containerPort {ports} is not the port serve listens on ({port})")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = container.get(probe)
        if p:
            get = p.get("httpGet", {})
            check(get.get("path") == "/healthz", f"{rel}: {probe} is not GET /healthz")
            check(port_of(container, get.get("port", port)) == port, f"{rel}: {probe} is not on port {port}")
    check(container.get("livenessProbe") and (container.get("readinessProbe") or container.get("startupProbe")),
          f"{rel}: needs a liveness probe and a readiness or startup probe")
    workers = max(1, min(2, int(cpus)))
    serve_runs.append((rel, [a for a in (container.get("args") or [])[1:]], budget, workers, queue))

svc = find("deploy/cloudrun/service.yaml", "Service")
if svc:
    check(svc["apiVersion"] == "serving.knative.dev/v1", "cloudrun: not a Knative Service")
    spec = svc["spec"]["template"]["spec"]
    check_serve("deploy/cloudrun/service.yaml", spec, spec["containers"][0], spec.get("containerConcurrency"))
dep = find("deploy/k8s/deployment.yaml", "Deployment")
if dep:
    spec = dep["spec"]["template"]["spec"]
    check(spec.get("securityContext", {}).get("runAsNonRoot") is True, "deployment: runAsNonRoot is not set")
    check_serve("deploy/k8s/deployment.yaml", spec, spec["containers"][0])
    k8s_svc = find("deploy/k8s/deployment.yaml", "Service")
    if k8s_svc:
        check(k8s_svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"], "k8s Service does not select the Deployment's pods")

# 3. the batch Indexed Job
job = find("deploy/k8s/batch-job.yaml", "Job")
if job:
    rel = "deploy/k8s/batch-job.yaml"
    check(job["spec"].get("completionMode") == "Indexed", f"{rel}: not an Indexed Job")
    spec = job["spec"]["template"]["spec"]
    c = spec["containers"][0]
    limit, _ = check_pod(rel, spec, c)
    script = " ".join(c.get("args", []))
    m = re.search(r'--shard "?\$JOB_COMPLETION_INDEX/(\d+)', script)
    check(m and int(m.group(1)) == job["spec"]["completions"], f"{rel}: --shard N is not completions")
    m = re.search(r"--max-mem (\S+)", script)
    check(m and size(m.group(1)) <= limit * share // 100,
          f"{rel}: --max-mem is over {share}% of the memory limit")
    batch_line = script.split(";")[0]
    for flag in re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", batch_line):
        check(re.search(r"(^|[\s,])" + re.escape(flag) + r"\b", batch_help, re.M), f"{rel}: {flag} is not an option of leanpix batch")
    # the command docs/batch.md shows is the Job's
    batch_md = open(os.path.join(src, "docs/batch.md")).read()
    m = re.search(r"### Kubernetes Indexed Job.*?```sh\n(.*?)```", batch_md, re.S)
    shown = " ".join(m.group(1).replace("\\\n", " ").split()) if m else ""
    check(shown and shown == " ".join(batch_line.split()),
          f"docs/batch.md shows the Job's command as '{shown}', the Job runs '{' '.join(batch_line.split())}'")
check("deploy/k8s/batch-job.yaml" in open(os.path.join(src, "docs/batch.md")).read(),
      "docs/batch.md does not point at deploy/k8s/batch-job.yaml")

# 4. the server starts with each manifest's options
for rel, args, budget, workers, queue in serve_runs:
    out = os.path.join(tmp, os.path.basename(rel) + ".out")
    cmd = [bin, "serve", *args, "--max-mem", str(budget), "--workers", str(workers), "--listen", "127.0.0.1:0"]
    with open(out, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    line = ""
    for _ in range(300):
        line = open(out).read()
        if "listening on" in line or p.poll() is not None:
            break
        time.sleep(0.1)
    p.terminate()
    p.wait()
    if check("listening on" in line, f"{rel}: serve did not start with {shlex.join(cmd[1:])}: {line.strip()}"):
        m = re.search(r"(\d+) workers, queue (\d+)", line)
        check(m and int(m.group(1)) >= 1 and int(m.group(2)) == queue,
              f"{rel}: serve started with {line.strip()}, expected queue {queue} and a worker")
        print(f"{rel}: {line.strip()}")

for f in failures:
    print("test_deploy: " + f)
print(f"test_deploy: {len(files)} files, {len(serve_runs)} serve manifests run, {len(failures)} failures")
sys.exit(1 if failures else 0)
EOF
