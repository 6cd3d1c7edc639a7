"""Memory layouts of constant data, as the C kernels read them (pure numpy; no C text here):
`weights` — packed binary weights per kernel kind; `sliced` — the bit-sliced engine's transposed
rows and counter planes."""
