import pytest

from territoire.csvsafe import neutralise


@pytest.mark.parametrize("cell", ["=1+1", "+33 1", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_starts_are_quoted(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Lyon", "", "69123", "a=b", None, -2, 3.5])
def test_other_cells_unchanged(cell):
    assert neutralise(cell) == cell
