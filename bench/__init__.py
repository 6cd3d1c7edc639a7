"""larq2mcu benchmark (make bench: python -m bench)."""

# names of the binary conv/dense kernels (their layer-specialized functions are listed under them)
BINARY_KERNELS = ("l2m_conv2d_b32_", "l2m_conv2d_packed_b32_", "l2m_conv2d_small_b32_", "l2m_conv2d_nib_b32_",
                  "l2m_dense_b32_", "l2m_conv2d_sliced_b32", "l2m_dense_sliced_b32")
