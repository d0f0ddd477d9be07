"""The equations of the dendritic cortical microcircuit (Sacramento et al. 2018), each once.

Every equation of the circuit is a small compiled block here (``@njit(inline="always")``,
so it costs nothing to call from a loop and takes the caller's fastmath flags); the
engine's kernels (:mod:`dendrosim.engine`) only schedule them: the order of the passes,
fusion, threads, SIMD lanes. A change of the model is made here and reaches every kernel.

================  ===================================================  =====================
module            blocks                                               paper
================  ===================================================  =====================
transfer          phi, phi', the vectorising loop :func:`phi_block`    r = phi(u)
soma              du/dt of pyramidal cells and interneurons, the        eqs. 1-2, sec. 1.4-1.5
                  teaching (nudging) current in both modes, the
                  input low-pass filter
dendrites         one synaptic term of the dendritic sums, the          eqs. 3-5, 7-8
                  attenuations g_B/(g_l+g_B+g_A) and g_D/(g_l+g_D)
plasticity        post factors of the four rules, the weight and        eqs. 6-10, sec. 2.2
                  tau_w-trace updates (rate form and Euler step)
noise             scale of the noise added per step                     sec. 1.5
pal               Phaseless Alignment Learning: the apical noise,       Max et al. 2024
                  the high-pass filter, the top-down rule's term
================  ===================================================  =====================

The blocks are generic in the number type: the same function serves float32, float64 and
the SIMD vectors of :mod:`dendrosim.engine.simd` (with :func:`dendrosim.vecmath.madd`
for a * b + c). The independent NumPy reference (tests/reference_numpy.py) does not use
this package.
"""
