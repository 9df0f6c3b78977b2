"""Float metadata as the UI shows it: four significant digits, whatever the magnitude."""

import math

from resources.reports.display import rounded, shown


def test_four_significant_digits_at_every_magnitude():
    assert rounded(0.15845791650414479) == 0.1585
    assert rounded(7.684442542918432) == 7.684
    assert rounded(0.001922465371690845) == 0.001922
    assert rounded(1.2345678e-06) == 1.235e-06
    assert rounded(2157.124805258471) == 2157.0
    assert rounded(0) == 0 and rounded(-0.123456) == -0.1235


def test_missing_and_infinite_values_stay_what_they_are():
    assert math.isnan(rounded(None)) and math.isnan(rounded(float("nan")))
    assert rounded(float("inf")) == float("inf")
    assert shown(0.15845791650414479).value == 0.1585
