"""Checks that the per-target kernel builds share no symbol with anything else.

The AVX2 and AVX-512 kernel objects are compiled with wider instruction sets than the rest of the
library. If one of them defined an out-of-line copy of a function that other code also uses (an
inline function or template instantiation outside the target's namespace, say std::min<float>),
the linker would keep one copy for all callers, and a CPU without the instructions could run the
wide one. So every function or object they define must live in qguard::kernels::<target>, or be an
xsimd instantiation for the target's own instruction set (only code built with that target's flags
can instantiate it), and no symbol may be defined by two targets.

usage: check_target_symbols.py NM TARGET OBJECT... [TARGET OBJECT...]   (TARGET: --avx2, --avx512)
"""
import subprocess
import sys

# Symbols that are data the toolchain emits per object, not code.
ALLOWED = {"DW.ref.__gxx_personality_v0"}
# The xsimd architecture each target's flags enable (its default batch type).
XSIMD_ARCH = {"avx2": "xsimd::fma3<xsimd::avx2>", "avx512": "xsimd::avx512bw"}
# The target namespace as it appears in mangled names (AddressSanitizer's __odr_asan.<mangled>).
MANGLED = {"avx2": "7kernels4avx2", "avx512": "7kernels6avx512"}


def belongs(name, target):
    # A function template's instance demangles with its return type first ("float qguard::...").
    without_return_type = name.split(" ", 1)[-1]
    return (name in ALLOWED or name.startswith(f"qguard::kernels::{target}::")
            or without_return_type.startswith(f"qguard::kernels::{target}::")
            or (name.startswith("xsimd::") and XSIMD_ARCH[target] in name)
            or (name.startswith("__odr_asan.") and MANGLED[target] in name))


def defined_symbols(nm, path):
    out = subprocess.run([nm, "-C", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] not in "tdbrn":  # global or weak, not local
            yield parts[1], parts[2]


def main(argv):
    nm, rest = argv[1], argv[2:]
    target, checked, bad, definers = None, 0, [], {}
    for arg in rest:
        if arg.startswith("--"):
            target = arg[2:]
            continue
        for kind, name in defined_symbols(nm, arg):
            checked += 1
            if name not in ALLOWED:
                definers.setdefault(name, set()).add(target)
            if not belongs(name, target):
                bad.append(f"{arg}: {kind} {name}")
    bad += [f"defined by {sorted(targets)}: {name}" for name, targets in definers.items() if len(targets) > 1]
    print(f"{checked} global or weak symbols in the target objects")
    for b in bad:
        print("not the target's own:", b)
    if checked == 0:
        print("no symbols read: wrong object list?")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
