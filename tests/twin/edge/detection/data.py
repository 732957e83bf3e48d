"""Textbook data sets as small literal arrays, with their sources.

All from R's qcc package (luca-scr/qcc, ``data/*.txt``), which reproduces Montgomery,
*Introduction to Statistical Quality Control* (Wiley), and from qcc's vignette
(``docs/articles/qcc_a_quick_tour.html``), whose printed output gives the reference values
the tests compare with.
"""

from __future__ import annotations

# qcc data(pistonrings): inside diameter of forged automobile piston rings (mm), 40 samples
# of 5; samples 1-25 are the Phase I (trial) data. Montgomery, Tables 6.3 and 6.4.
PISTONRINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008], [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002], [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014], [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005], [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004], [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990], [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012], [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007], [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007], [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997], [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.988, 74.001, 74.009, 74.005, 73.996], [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014], [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013], [74.012, 74.015, 74.030, 73.986, 74.000],
    [73.995, 74.010, 73.990, 74.015, 74.001], [73.987, 73.999, 73.985, 74.000, 73.990],
    [74.008, 74.010, 74.003, 73.991, 74.006], [74.003, 74.000, 74.001, 73.986, 73.997],
    [73.994, 74.003, 74.015, 74.020, 74.004], [74.008, 74.002, 74.018, 73.995, 74.005],
    [74.001, 74.004, 73.990, 73.996, 73.998], [74.015, 74.000, 74.016, 74.025, 74.000],
    [74.030, 74.005, 74.000, 74.016, 74.012], [74.001, 73.990, 73.995, 74.010, 74.024],
    [74.015, 74.020, 74.024, 74.005, 74.019], [74.035, 74.010, 74.012, 74.015, 74.026],
    [74.017, 74.013, 74.036, 74.025, 74.026], [74.010, 74.005, 74.029, 74.000, 74.020],
]

# qcc vignette, "Variable control limits": pistonrings without these observations
# (1-based positions in the long 200-row data), giving subgroups of 3, 4 and 5.
PISTONRINGS_DROPPED = (9, 10, 30, 35, 45, 64, 65, 74, 75, 85, 99, 100)


def pistonrings_unequal() -> list[list[float]]:
    """Pistonrings with the vignette's observations dropped: 40 subgroups of 3 to 5."""
    flat = [(i // 5, x) for i, x in enumerate(v for group in PISTONRINGS for v in group)]
    kept = [(g, x) for pos, (g, x) in enumerate(flat, start=1) if pos not in PISTONRINGS_DROPPED]
    return [[x for g, x in kept if g == k] for k in range(40)]


# qcc data(orangejuice): nonconforming frozen orange juice cans, samples of 50; samples
# 1-30 are the trial data. Montgomery, Tables 7.1 and 7.2.
ORANGEJUICE_D = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12,
                 7, 13, 9, 6, 9, 6, 12, 5, 6, 4, 6, 3, 7, 6, 2, 4, 3, 6, 5, 4, 8, 5, 6, 7, 5, 6, 3, 5]
ORANGEJUICE_SIZE = 50
ORANGEJUICE_TRIAL = 30

# qcc data(circuit): nonconformities per 100 printed circuit boards; samples 1-26 are the
# trial data. Montgomery, Tables 7.7 and 7.8.
CIRCUIT_X = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17,
             15, 16, 18, 12, 15, 24, 21, 28, 20, 25, 19, 18, 21, 16, 22, 19, 12, 14, 9, 16, 21]
CIRCUIT_SIZE = 100
CIRCUIT_TRIAL = 26

# qcc data(pcmanufact): nonconformities in 20 samples of 5 personal computers.
# Montgomery, Table 7.10 (u chart).
PCMANUFACT_X = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]
PCMANUFACT_SIZE = 5

# qcc data(dyedcloth): nonconformities in rolls of dyed cloth, inspection units of 50 m^2
# (sizes not whole). Montgomery, Table 7.12 (u chart with variable limits).
DYEDCLOTH_X = [14, 12, 20, 11, 7, 10, 21, 16, 19, 23]
DYEDCLOTH_SIZE = [10, 8, 13, 10, 9.5, 10, 12, 10.5, 12, 12.5]

# qcc vignette, "Continuous one-at-time data": viscosity, Montgomery (p. 242).
VISCOSITY_15 = [33.75, 33.05, 34.00, 33.81, 33.46, 34.02, 33.68, 33.27, 33.49, 33.20, 33.62, 33.00, 33.54,
                33.12, 33.84]

# qcc data(boiler): temperature readings from 8 configured burners on a boiler, 25
# observations. Mason & Young (2002), Multivariate SPC, Table 12.1.
BOILER = [
    [507, 516, 527, 516, 499, 512, 472, 477], [512, 513, 533, 518, 502, 510, 476, 475],
    [520, 512, 537, 518, 503, 512, 480, 477], [520, 514, 538, 516, 504, 517, 480, 479],
    [530, 515, 542, 525, 504, 512, 481, 477], [528, 516, 541, 524, 505, 514, 482, 480],
    [522, 513, 537, 518, 503, 512, 479, 477], [527, 509, 537, 521, 504, 508, 478, 472],
    [533, 514, 528, 529, 508, 512, 482, 477], [530, 512, 538, 524, 507, 512, 482, 477],
    [530, 512, 541, 525, 507, 511, 482, 476], [527, 513, 541, 523, 506, 512, 481, 476],
    [529, 514, 542, 525, 506, 512, 481, 477], [522, 509, 539, 518, 501, 510, 476, 475],
    [532, 515, 545, 528, 507, 511, 481, 478], [531, 514, 543, 525, 507, 511, 482, 477],
    [535, 514, 542, 530, 509, 511, 483, 477], [516, 515, 537, 515, 501, 516, 476, 481],
    [514, 510, 532, 512, 497, 512, 471, 476], [536, 512, 540, 526, 509, 512, 482, 477],
    [522, 514, 540, 518, 497, 514, 475, 478], [520, 514, 540, 518, 501, 514, 475, 478],
    [526, 517, 546, 522, 502, 516, 477, 480], [527, 514, 543, 523, 502, 512, 475, 476],
    [529, 518, 544, 525, 504, 516, 479, 481],
]
