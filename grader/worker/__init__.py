"""The untrusted side of the trust boundary.

Everything in this package runs inside the confined worker process, next to student code. It
imports only the standard library, torch and safetensors, never anything else from ``grader``:
under namespace confinement this folder is the only part of the grader the worker can see.

It holds nothing worth stealing: no seed, no reference, no expected values. It receives inputs,
runs trusted *probe* code against the submission's hooks and sends back observations. The
trusted side compares the values it sends with its own; the facts about modules it sends are read
from torch's own bookkeeping (``bookkeeping``) by probe code that the worker guards (``seal``),
and docs/confinement.md says which are believed and what forging them could gain.
"""
