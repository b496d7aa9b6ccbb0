#!/usr/bin/python3
"""`qguard classify --model ORG/NAME` against a mock Hub on 127.0.0.1 (mock_hub.py): downloads into
huggingface_hub's cache layout, reuse of such a cache offline and without a Hub, resume, refusal of
a corrupted LFS body, 401/403/404, an unreachable endpoint, a sharded checkpoint, two concurrent
downloads. The expected cache layout is huggingface_hub's documented one, checked here from the
mock's files; the expected verdict is qguard's own on the same files read from a local directory.

    test_hub.py QGUARD_BINARY TOKENIZER_JSON
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, os.pardir, os.pardir, "tools"))
import make_checkpoint  # noqa: E402
import mock_hub  # noqa: E402

TEXT = "How can I make a bomb?"
# The real vocabulary (the tokenizer's), everything else tiny.
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 151936, "tie_word_embeddings": True}
NEEDED_SINGLE = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"}


class Failure(Exception):
    pass


def verdict(classify_stdout):
    """The verdict `qguard classify` printed, without its timing."""
    parsed = json.loads(classify_stdout)
    parsed.pop("ms", None)
    return parsed


def expect(condition, message):
    if not condition:
        raise Failure(message)


class Context:
    def __init__(self, qguard, tokenizer_json, scratch):
        self.qguard = os.path.abspath(qguard)
        self.scratch = scratch
        self.hub = mock_hub.MockHub()
        template = make_checkpoint.load_presets(make_checkpoint.SPEC_CONFIGS)[make_checkpoint.TEMPLATE_PRESET]
        self.local = {}
        for name, shards, seed in (("tiny", 1, 7), ("sharded", 3, 8)):
            directory = os.path.join(scratch, "local", name)
            make_checkpoint.write_checkpoint(directory, dict(template, **TINY), "bf16", shards, seed)
            shutil.copy(tokenizer_json, os.path.join(directory, "tokenizer.json"))
            with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
                json.dump({"model_max_length": 40960}, f)
            self.local[name] = directory
        self.files = {name: self.read_dir(d) for name, d in self.local.items()}
        # Files a model repository also holds that qguard must never download.
        extras = {"README.md": b"# tiny\n", "model.onnx": b"\0" * 1000, "extra.safetensors": b"x" * 100}
        self.hub.repos["org/tiny"] = mock_hub.Repo(dict(self.files["tiny"], **extras), tags=("v1",))
        self.hub.repos["org/sharded"] = mock_hub.Repo(self.files["sharded"])
        self.hub.repos["org/gated"] = mock_hub.Repo(self.files["tiny"], token="hf_secret")
        self.hub.repos["org/notamodel"] = mock_hub.Repo({"README.md": b"hello"})
        self.hub.renamed["oldorg/tiny"] = "org/tiny"
        self.expected = {name: verdict(self.classify(d, {}).stdout) for name, d in self.local.items()}
        self.caches = 0

    @staticmethod
    def read_dir(directory):
        files = {}
        for name in os.listdir(directory):
            with open(os.path.join(directory, name), "rb") as f:
                files[name] = f.read()
        return files

    def new_cache(self):
        self.caches += 1
        return os.path.join(self.scratch, "cache%d" % self.caches)

    def env(self, cache=None, **overrides):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
        env.update(HF_ENDPOINT=self.hub.endpoint, HF_HOME=os.path.join(self.scratch, "no_home"))
        if cache is not None:
            env["HF_HUB_CACHE"] = cache
        env.update(overrides)
        return env

    def classify(self, model, env, cwd=None):
        return subprocess.run([self.qguard, "classify", "--model", model, "--text", TEXT, "--threads", "1"],
                              capture_output=True, text=True, env=env, cwd=cwd, timeout=300)

    def classify_ok(self, model, env, expected, cwd=None):
        done = self.classify(model, env, cwd)
        expect(done.returncode == 0, "qguard classify --model %s failed: %s" % (model, done.stderr.strip()))
        expect(verdict(done.stdout) == self.expected[expected],
               "verdict from %s differs from the local copy's: %r vs %r" % (model, done.stdout,
                                                                             self.expected[expected]))

    def classify_fails(self, model, env, code, *phrases):
        done = self.classify(model, env)
        expect(done.returncode != 0, "qguard classify --model %s succeeded; expected %s" % (model, code))
        expect("error [%s]" % code in done.stderr, "expected error [%s], got: %s" % (code, done.stderr.strip()))
        for phrase in phrases:
            expect(phrase in done.stderr, "the error lacks %r: %s" % (phrase, done.stderr.strip()))
        return done.stderr

    def cdn_gets(self, file_data):
        return self.hub.requests("cdn", "GET", mock_hub.sha256(file_data))


def check_layout(ctx, cache, repo_id, files):
    """The cache holds exactly `files` of repo_id's main commit, as huggingface_hub lays them out."""
    repo = ctx.hub.repos[repo_id]
    folder = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    with open(os.path.join(folder, "refs", "main")) as f:
        expect(f.read() == repo.commit, "refs/main does not hold the commit hash")
    snapshot = os.path.join(folder, "snapshots", repo.commit)
    expect(set(os.listdir(snapshot)) == set(files),
           "snapshot holds %s, expected %s" % (sorted(os.listdir(snapshot)), sorted(files)))
    for name in files:
        data = repo.files[name]
        etag = mock_hub.sha256(data) if name.endswith(".safetensors") else mock_hub.git_blob_sha1(data)
        link = os.path.join(snapshot, name)
        expect(os.path.islink(link) and os.readlink(link) == "../../blobs/" + etag,
               "%s is not a relative link to ../../blobs/%s" % (name, etag))
        with open(os.path.join(folder, "blobs", etag), "rb") as f:
            expect(f.read() == data, "blob of %s differs from the Hub's file" % name)
    leftovers = [n for n in os.listdir(os.path.join(folder, "blobs")) if n.endswith(".incomplete")]
    expect(not leftovers, "incomplete downloads left: %s" % leftovers)


def test_fresh_download_then_offline(ctx):
    cache = ctx.new_cache()
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")
    check_layout(ctx, cache, "org/tiny", NEEDED_SINGLE)
    commit = ctx.hub.repos["org/tiny"].commit
    expect(os.path.exists(os.path.join(cache, "models--org--tiny", ".no_exist", commit,
                                       "model.safetensors.index.json")),
           "the absent index is not recorded in .no_exist/")
    for unwanted in ("README.md", "model.onnx", "extra.safetensors"):
        expect(not ctx.hub.requests(path_part=unwanted), "qguard requested %s, which it does not need" % unwanted)
    # Online again: one HEAD to learn the commit, nothing downloaded.
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")
    expect(not ctx.hub.requests("cdn") and not ctx.hub.requests(method="GET"), "a second run downloaded again")
    # Offline: no request at all.
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(cache, HF_HUB_OFFLINE="1"), "tiny")
    expect(not ctx.hub.log, "HF_HUB_OFFLINE=1 still made requests: %s" % ctx.hub.log)
    # A pinned commit that is cached needs no Hub; a tag is resolved to the same snapshot.
    unreachable = "http://127.0.0.1:%d" % mock_hub.closed_port()
    ctx.classify_ok("org/tiny@" + commit, ctx.env(cache, HF_ENDPOINT=unreachable), "tiny")
    ctx.classify_ok("org/tiny@v1", ctx.env(cache), "tiny")
    with open(os.path.join(cache, "models--org--tiny", "refs", "v1")) as f:
        expect(f.read() == commit, "refs/v1 does not hold the commit hash")


def write_huggingface_hub_cache(ctx, cache, repo_id):
    """The layout huggingface_hub's docs describe, written here without qguard."""
    repo = ctx.hub.repos[repo_id]
    folder = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    os.makedirs(os.path.join(folder, "blobs"))
    os.makedirs(os.path.join(folder, "refs"))
    snapshot = os.path.join(folder, "snapshots", repo.commit)
    os.makedirs(snapshot)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(repo.commit)
    for name in NEEDED_SINGLE:
        data = repo.files[name]
        etag = mock_hub.sha256(data) if name.endswith(".safetensors") else mock_hub.git_blob_sha1(data)
        with open(os.path.join(folder, "blobs", etag), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", etag), os.path.join(snapshot, name))


def test_reuses_huggingface_hub_cache(ctx):
    cache = ctx.new_cache()
    write_huggingface_hub_cache(ctx, cache, "org/tiny")
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(cache, HF_HUB_OFFLINE="1"), "tiny")
    unreachable = "http://127.0.0.1:%d" % mock_hub.closed_port()
    ctx.classify_ok("org/tiny", ctx.env(cache, HF_ENDPOINT=unreachable), "tiny")
    expect(not ctx.hub.log, "the mock Hub was asked although the cache had everything")
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")  # online: the cached blobs serve, nothing is fetched
    expect(not ctx.hub.requests(method="GET"), "blobs already cached were downloaded again")


def test_resume(ctx):
    weights = ctx.files["tiny"]["model.safetensors"]
    digest = mock_hub.sha256(weights)
    # Cut once: the same run resumes with a Range request where the cut left off.
    cache = ctx.new_cache()
    ctx.hub.clear_log()
    ctx.hub.faults[digest] = ["cut"]
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")
    gets = ctx.cdn_gets(weights)
    expect(len(gets) == 2 and gets[0]["range"] is None, "expected a full GET then a resumed one: %s" % gets)
    cut_at = len(weights) // 2
    expect(gets[1]["range"] == "bytes=%d-" % cut_at, "resumed with %r, expected bytes=%d-" % (gets[1]["range"], cut_at))
    check_layout(ctx, cache, "org/tiny", NEEDED_SINGLE)
    # Cut on every try: the run fails, keeps the partial file, and the next run resumes from it.
    cache = ctx.new_cache()
    ctx.hub.faults[digest] = ["cut", "cut", "cut"]
    ctx.classify_fails("org/tiny", ctx.env(cache), "network_error", "running again resumes")
    partial = os.path.join(cache, "models--org--tiny", "blobs", digest + ".incomplete")
    expect(os.path.exists(partial), "no .incomplete file kept after the failed run")
    kept = os.path.getsize(partial)
    expect(0 < kept < len(weights), "the kept partial file has %d of %d bytes" % (kept, len(weights)))
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")
    gets = ctx.cdn_gets(weights)
    expect([g["range"] for g in gets] == ["bytes=%d-" % kept], "the next run did not resume at %d: %s" % (kept, gets))
    check_layout(ctx, cache, "org/tiny", NEEDED_SINGLE)


def test_corrupted_body_refused(ctx):
    weights = ctx.files["tiny"]["model.safetensors"]
    digest = mock_hub.sha256(weights)
    cache = ctx.new_cache()
    ctx.hub.faults[digest] = ["corrupt"]
    ctx.classify_fails("org/tiny", ctx.env(cache), "corrupt_file", "SHA-256", "nothing was cached")
    folder = os.path.join(cache, "models--org--tiny")
    blobs = os.listdir(os.path.join(folder, "blobs"))
    expect(digest not in blobs and digest + ".incomplete" not in blobs, "the corrupted body stayed in blobs/")
    snapshot = os.path.join(folder, "snapshots", ctx.hub.repos["org/tiny"].commit)
    expect(not os.path.lexists(os.path.join(snapshot, "model.safetensors")), "the snapshot links the corrupted body")
    ctx.classify_fails("org/tiny", ctx.env(cache, HF_HUB_OFFLINE="1"), "not_found", "model.safetensors")
    ctx.classify_ok("org/tiny", ctx.env(cache), "tiny")  # a clean download afterwards


def test_access_and_not_found(ctx):
    cache = ctx.new_cache()
    ctx.classify_fails("org/gated", ctx.env(cache), "access_denied", "gated", "HF_TOKEN")
    ctx.classify_fails("org/gated", ctx.env(cache, HF_TOKEN="hf_wrong"), "access_denied", "has no access")
    # The token file under HF_HOME (as `hf auth login` writes it), with the default cache beneath HF_HOME.
    home = os.path.join(ctx.scratch, "home")
    os.makedirs(home)
    with open(os.path.join(home, "token"), "w") as f:
        f.write("hf_secret\n")
    ctx.hub.clear_log()
    env = ctx.env(HF_HOME=home)
    ctx.classify_ok("org/gated", env, "tiny")
    check_layout(ctx, os.path.join(home, "hub"), "org/gated", NEEDED_SINGLE)
    expect(all(r["authorization"] == "Bearer hf_secret" for r in ctx.hub.requests("hub")), "a Hub request lacked the token")
    expect(ctx.hub.requests("cdn") and all(r["authorization"] is None for r in ctx.hub.requests("cdn")),
           "the token was sent to the CDN")
    ctx.classify_fails("org/missing", ctx.env(cache), "not_found", "neither a local directory nor", "HF_TOKEN")
    ctx.classify_fails("org/tiny@nope", ctx.env(cache), "not_found", "no revision 'nope'")
    ctx.classify_fails("org/notamodel", ctx.env(cache), "not_found", "no file 'config.json'")
    unreachable = "http://127.0.0.1:%d" % mock_hub.closed_port()
    ctx.classify_fails("org/tiny", ctx.env(ctx.new_cache(), HF_ENDPOINT=unreachable), "network_error",
                       unreachable, "HF_HUB_OFFLINE")
    ctx.classify_fails("org/tiny", ctx.env(ctx.new_cache(), HF_HUB_OFFLINE="1"), "not_found", "HF_HUB_OFFLINE")


def test_sharded_renamed_and_local_first(ctx):
    cache = ctx.new_cache()
    ctx.classify_ok("org/sharded", ctx.env(cache), "sharded")
    shards = {n for n in ctx.files["sharded"] if n.startswith("model-")}
    expect(len(shards) == 3, "the sharded repository has %d shards" % len(shards))
    check_layout(ctx, cache, "org/sharded",
                 shards | {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json"})
    ctx.classify_ok("oldorg/tiny", ctx.env(cache), "tiny")  # followed the relative redirect of a renamed repository
    # A directory named like a repository id wins over the Hub.
    cwd = os.path.join(ctx.scratch, "cwd")
    os.makedirs(os.path.join(cwd, "org"))
    shutil.copytree(ctx.local["sharded"], os.path.join(cwd, "org", "tiny"))
    ctx.hub.clear_log()
    ctx.classify_ok("org/tiny", ctx.env(ctx.new_cache()), "sharded", cwd=cwd)
    expect(not ctx.hub.log, "a local directory was looked up on the Hub")


def test_tokenizer_only(ctx):
    """`qguard tokenize --tokenizer ORG/NAME` fetches the tokenizer's files and nothing else."""
    cache = ctx.new_cache()
    ctx.hub.clear_log()
    line = json.dumps({"text": TEXT}) + "\n"
    runs = [subprocess.run([ctx.qguard, "tokenize", "--tokenizer", source], input=line, capture_output=True,
                           text=True, env=ctx.env(cache), timeout=120) for source in ("org/tiny", ctx.local["tiny"])]
    for done in runs:
        expect(done.returncode == 0, "qguard tokenize failed: %s" % done.stderr.strip())
    expect(runs[0].stdout == runs[1].stdout, "tokens from the Hub's tokenizer differ from the local one's")
    fetched = {r["path"].rsplit("/", 1)[-1] for r in ctx.hub.requests("hub")}
    expect(fetched == {"tokenizer.json", "tokenizer_config.json"}, "tokenize asked the Hub for %s" % sorted(fetched))


def test_concurrent_downloads(ctx):
    cache = ctx.new_cache()
    ctx.hub.clear_log()
    ctx.hub.chunk_delay = 0.01
    command = [ctx.qguard, "classify", "--model", "org/sharded", "--text", TEXT, "--threads", "1"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=ctx.env(cache)) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    ctx.hub.chunk_delay = 0.0
    for p, (out, err) in zip(processes, outputs):
        expect(p.returncode == 0, "a concurrent download failed: %s" % err.strip())
        expect(verdict(out) == ctx.expected["sharded"], "a concurrent download gave another verdict")
    for name, data in ctx.files["sharded"].items():
        if name.endswith(".safetensors"):
            gets = ctx.cdn_gets(data)
            expect(len(gets) == 1, "%s was downloaded %d times (the lock should make the other process wait)"
                   % (name, len(gets)))
    check_layout(ctx, cache, "org/sharded", set(ctx.files["sharded"]))


TESTS = [test_fresh_download_then_offline, test_reuses_huggingface_hub_cache, test_resume,
         test_corrupted_body_refused, test_access_and_not_found, test_sharded_renamed_and_local_first,
         test_tokenizer_only, test_concurrent_downloads]


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory(prefix="qguard_hub_") as scratch:
        ctx = Context(argv[1], argv[2], scratch)
        try:
            for test in TESTS:
                try:
                    test(ctx)
                    print("ok   %s" % test.__name__)
                except Failure as e:
                    failed += 1
                    print("FAIL %s: %s" % (test.__name__, e))
        finally:
            ctx.hub.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
