"""The stages of compiling a project (toolkit.compiler runs them in order and is the
only module the rest of toolkit imports them through)."""
