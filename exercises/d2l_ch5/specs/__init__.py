"""The exercise specs: one module per section of the chapter, one hookspec per hook."""
