"""qguard from Python through ctypes: no compiled extension, only libqguard.so and its C API.

    guard = Classifier("models/Qwen3Guard-Gen-0.6B")
    verdict = guard.moderate_prompt("How can I make a bomb?")
    if verdict.severity != "Safe": ...

Finds the library at $QGUARD_LIBRARY, else wherever the system's loader finds libqguard. Run as a
program, `python3 qguard.py MODEL_DIR PROMPT [RESPONSE]` prints the verdict as one JSON line.
"""
import ctypes
import ctypes.util
import json
import os
import sys
from dataclasses import dataclass


class _Options(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("threads", ctypes.c_int), ("mode", ctypes.c_int),
                ("weights", ctypes.c_int), ("pack_cache_dir", ctypes.c_char_p), ("max_input_tokens", ctypes.c_int),
                ("max_new_tokens", ctypes.c_int), ("match_special_tokens", ctypes.c_int)]


class _Verdict(ctypes.Structure):
    _fields_ = [("severity", ctypes.c_int), ("categories", ctypes.c_uint32), ("refusal", ctypes.c_int),
                ("probabilities", ctypes.c_float * 3), ("category_probabilities", ctypes.c_float * 9)]


def _load_library(path=None):
    path = path or os.environ.get("QGUARD_LIBRARY") or ctypes.util.find_library("qguard") or "libqguard.so"
    lib = ctypes.CDLL(path)
    lib.qguard_options_init.argtypes = [ctypes.POINTER(_Options)]
    lib.qguard_options_init.restype = None
    lib.qguard_classifier_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Options), ctypes.POINTER(ctypes.c_void_p)]
    lib.qguard_classifier_free.argtypes = [ctypes.c_void_p]
    lib.qguard_classifier_free.restype = None
    lib.qguard_moderate_prompt.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Verdict)]
    lib.qguard_moderate_response.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                             ctypes.c_size_t, ctypes.POINTER(_Verdict)]
    for name in ("qguard_last_error", "qguard_version", "qguard_status_name", "qguard_severity_name",
                 "qguard_category_name"):
        getattr(lib, name).restype = ctypes.c_char_p
    for name in ("qguard_status_name", "qguard_severity_name", "qguard_category_name"):
        getattr(lib, name).argtypes = [ctypes.c_int]
    return lib


class Error(Exception):
    """A qguard failure: `status` is the C API's status name, e.g. "not_found"."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass
class Verdict:
    severity: str            # "Safe", "Controversial" or "Unsafe"
    categories: list         # the model card's category names, e.g. ["Violent"]
    refusal: object          # None for prompt moderation, else True or False
    probabilities: dict      # {"Safe": p, "Controversial": p, "Unsafe": p}
    category_probabilities: dict  # {"Violent": p, ...}: each category's chance of being named first


class Classifier:
    """One loaded model; any number of threads may use it at once (the GIL is released in calls)."""

    def __init__(self, model_dir, threads=0, library=None):
        self._handle = None
        self._lib = _load_library(library)
        options = _Options()
        self._lib.qguard_options_init(ctypes.byref(options))
        options.threads = threads
        handle = ctypes.c_void_p()
        self._check(self._lib.qguard_classifier_load(os.fsencode(model_dir), ctypes.byref(options),
                                                     ctypes.byref(handle)))
        self._handle = handle

    def close(self):
        if self._handle:
            self._lib.qguard_classifier_free(self._handle)
            self._handle = None

    __del__ = close

    def moderate_prompt(self, prompt):
        text = prompt.encode()
        verdict = _Verdict()
        self._check(self._lib.qguard_moderate_prompt(self._handle, text, len(text), ctypes.byref(verdict)))
        return self._to_python(verdict)

    def moderate_response(self, prompt, response):
        prompt_bytes, response_bytes = prompt.encode(), response.encode()
        verdict = _Verdict()
        self._check(self._lib.qguard_moderate_response(self._handle, prompt_bytes, len(prompt_bytes), response_bytes,
                                                       len(response_bytes), ctypes.byref(verdict)))
        return self._to_python(verdict)

    def version(self):
        return self._lib.qguard_version().decode()

    def _check(self, status):
        if status != 0:
            raise Error(self._lib.qguard_status_name(status).decode(), self._lib.qguard_last_error().decode())

    def _to_python(self, verdict):
        name = lambda function, value: function(value).decode()  # noqa: E731
        all_categories = [name(self._lib.qguard_category_name, c) for c in range(len(verdict.category_probabilities))]
        categories = [c for bit, c in enumerate(all_categories) if verdict.categories >> bit & 1]
        severities = [name(self._lib.qguard_severity_name, s) for s in range(3)]
        return Verdict(severity=severities[verdict.severity], categories=categories,
                       refusal=None if verdict.refusal < 0 else bool(verdict.refusal),
                       probabilities=dict(zip(severities, verdict.probabilities)),
                       category_probabilities=dict(zip(all_categories, verdict.category_probabilities)))


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(f"usage: {argv[0]} MODEL_DIR PROMPT [RESPONSE]")
    guard = Classifier(argv[1])
    verdict = guard.moderate_prompt(argv[2]) if len(argv) == 3 else guard.moderate_response(argv[2], argv[3])
    print(json.dumps(verdict.__dict__))


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Error as e:
        sys.exit(f"qguard: {e}")
