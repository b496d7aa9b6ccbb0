"""A stand-in for the Hugging Face Hub on 127.0.0.1, answering as huggingface.co does for what
huggingface_hub's hf_hub_download reads (written from the Hub's documented behaviour, for the tests):

  HEAD/GET {hub}/{org}/{name}/resolve/{revision}/{file}
    regular file: 200, ETag "<git blob sha1>", X-Repo-Commit, Content-Length (GET: the body)
    LFS file (*.safetensors): 302 to the CDN (another origin), X-Linked-Etag "<sha256>",
                              X-Linked-Size, X-Repo-Commit, ETag of the pointer file
    renamed repository: 307 to the new name's path (a relative redirect)
    errors: 401 RepoNotFound (unknown repository), 401/403 GatedRepo (token missing/wrong),
            404 RevisionNotFound, 404 EntryNotFound, in X-Error-Code
  GET {cdn}/blobs/{sha256}, honouring "Range: bytes=N-" (206)

Faults for the tests: a CDN answer cut after half its body, or one byte changed. Every request is
logged (method, server, path, Range, Authorization).
"""
import hashlib
import http.server
import socket
import threading
import time
import urllib.parse

LFS_SUFFIX = ".safetensors"
CHUNK = 256 * 1024


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data):
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (sha256(data).encode(), len(data))


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as the Hub), without a log line per request on stderr."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


class Repo:
    def __init__(self, files, token=None, tags=()):
        self.files = dict(files)  # name -> bytes
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + git_blob_sha1(self.files[name]).encode())
        self.commit = digest.hexdigest()
        self.revisions = {"main": self.commit, **{tag: self.commit for tag in tags}}
        self.token = token  # a gated repository: only "Bearer <token>" may read it


class MockHub:
    def __init__(self):
        self.repos = {}
        self.renamed = {}  # old id -> new id
        self.faults = {}  # sha256 -> faults ("cut", "corrupt") for its next CDN answers, in order
        self.chunk_delay = 0.0  # seconds between CDN chunks (makes concurrent downloads overlap)
        self.log = []
        self._lock = threading.Lock()
        self._servers = [self._serve(self._hub_handler()), self._serve(self._cdn_handler())]
        self.endpoint = "http://127.0.0.1:%d" % self._servers[0].server_address[1]
        self.cdn = "http://127.0.0.1:%d" % self._servers[1].server_address[1]

    def close(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def requests(self, server=None, method=None, path_part=None):
        with self._lock:
            return [r for r in self.log if (server is None or r["server"] == server)
                    and (method is None or r["method"] == method)
                    and (path_part is None or path_part in r["path"])]

    def clear_log(self):
        with self._lock:
            self.log.clear()

    def blob(self, digest):
        for repo in self.repos.values():
            for data in repo.files.values():
                if sha256(data) == digest:
                    return data
        return None

    def _serve(self, handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _record(self, handler, server):
        with self._lock:
            self.log.append({"server": server, "method": handler.command, "path": handler.path,
                             "range": handler.headers.get("Range"),
                             "authorization": handler.headers.get("Authorization")})

    def _hub_handler(self):
        hub = self

        class Handler(QuietHandler):
            def do_HEAD(self):
                self.resolve(send_body=False)

            def do_GET(self):
                self.resolve(send_body=True)

            def answer(self, status, headers=(), body=b"", send_body=True):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def error(self, status, code, message, send_body):
                self.answer(status, [("X-Error-Code", code), ("X-Error-Message", message)], message.encode(), send_body)

            def resolve(self, send_body):
                hub._record(self, "hub")
                parts = self.path.split("?")[0].split("/")
                if len(parts) < 6 or parts[3] != "resolve":
                    return self.answer(404, body=b"not a resolve URL", send_body=send_body)
                repo_id, revision = parts[1] + "/" + parts[2], urllib.parse.unquote(parts[4])
                file = "/".join(parts[5:])
                if repo_id in hub.renamed:
                    new_path = "/%s/resolve/%s/%s" % (hub.renamed[repo_id], parts[4], file)
                    return self.answer(307, [("Location", new_path)], send_body=send_body)
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self.error(401, "RepoNotFound", "Repository not found", send_body)
                if repo.token is not None:
                    authorization = self.headers.get("Authorization")
                    if authorization is None:
                        return self.error(401, "GatedRepo", "Access to this model is restricted", send_body)
                    if authorization != "Bearer " + repo.token:
                        return self.error(403, "GatedRepo", "Your token has no access", send_body)
                commit = repo.revisions.get(revision, revision if revision == repo.commit else None)
                if commit is None:
                    return self.error(404, "RevisionNotFound", "Invalid rev id: " + revision, send_body)
                data = repo.files.get(file)
                if data is None:
                    return self.error(404, "EntryNotFound", "Entry not found", send_body)
                headers = [("X-Repo-Commit", commit)]
                if file.endswith(LFS_SUFFIX):
                    pointer = lfs_pointer(data)
                    headers += [("ETag", '"%s"' % git_blob_sha1(pointer)), ("X-Linked-Etag", '"%s"' % sha256(data)),
                                ("X-Linked-Size", str(len(data))),
                                ("Location", "%s/blobs/%s?signature=x" % (hub.cdn, sha256(data)))]
                    return self.answer(302, headers, send_body=send_body)
                headers.append(("ETag", '"%s"' % git_blob_sha1(data)))
                return self.answer(200, headers, data, send_body)

        return Handler

    def _cdn_handler(self):
        hub = self

        class Handler(QuietHandler):
            def do_GET(self):
                hub._record(self, "cdn")
                digest = self.path.split("?")[0].rsplit("/", 1)[-1]
                data = hub.blob(digest)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with hub._lock:
                    pending = hub.faults.get(digest, [])
                    fault = pending.pop(0) if pending else None
                start = 0
                requested = self.headers.get("Range")
                if requested and requested.startswith("bytes=") and requested.endswith("-"):
                    start = int(requested[len("bytes="):-1])
                body = data[start:]
                if fault == "corrupt":
                    middle = len(body) // 2
                    body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"%s"' % digest)
                self.end_headers()
                if fault == "cut":
                    body = body[:len(body) // 2]
                for offset in range(0, len(body), CHUNK):
                    self.wfile.write(body[offset:offset + CHUNK])
                    if hub.chunk_delay:
                        time.sleep(hub.chunk_delay)
                if fault == "cut":
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

        return Handler


def closed_port():
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
