"""The untrusted side of the trust boundary.

Everything in this package runs inside the confined worker process, next to student code. It
imports only the standard library, torch and safetensors, never anything else from ``grader``:
under namespace confinement this folder is the only part of the grader the worker can see.

It holds nothing worth stealing: no seed, no reference, no expected values. It receives inputs,
runs trusted *probe* code against the submission's hooks and sends back observations. Nothing it
sends is believed except tensor values that the trusted side compares for itself.
"""
