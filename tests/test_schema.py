"""Tests of fastgrad.schema (canonical names, units, the public seams) and of
what the catalogue split keeps working: fastgrad.catalogs' re-exports, the
deprecated ``LAMOST_COLUMNS`` and the halo cut's new home."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

import fastgrad
from fastgrad import catalogs, cuts, populations, schema
from fastgrad.errors import InputError


def test_catalogs_reexports_the_new_modules():
    for name in catalogs.__all__:
        obj = getattr(catalogs, name)
        home = next(
            m
            for m in (
                fastgrad.schema,
                fastgrad.readers,
                cuts,
                fastgrad.distances,
                __import__("sys").modules["fastgrad.crossmatch"],
            )
            if name in m.__all__
        )
        assert getattr(home, name) is obj, name
    assert "LAMOST_COLUMNS" not in catalogs.__all__


@pytest.mark.parametrize(
    "module, new",
    [(fastgrad, "fastgrad.LAMOST_COLUMN_MAP"), (catalogs, "fastgrad.schema.LAMOST_COLUMN_MAP")],
)
def test_lamost_columns_is_a_deprecated_alias(module, new):
    with pytest.warns(FutureWarning, match=new.replace(".", r"\.")):
        old = module.LAMOST_COLUMNS
    assert old is schema.LAMOST_COLUMN_MAP  # the same dict: edits through either name count
    with pytest.warns(FutureWarning):
        from fastgrad.catalogs import LAMOST_COLUMNS  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'LAMOST_COLUMNZ'"):
        module.LAMOST_COLUMNZ  # noqa: B018 (the attribute access is the test)


def test_public_names_need_no_deprecated_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in fastgrad.__all__:
            getattr(fastgrad, name)
    assert "LAMOST_COLUMN_MAP" in fastgrad.__all__ and "LAMOST_COLUMNS" not in fastgrad.__all__


def test_schemas_hold_the_column_maps():
    assert schema.CATALOG_KINDS == tuple(schema.CATALOG_SCHEMAS) + (None,)
    assert schema.CATALOG_SCHEMAS["lamost_hot_stars"].column_map is schema.LAMOST_COLUMN_MAP
    assert schema.CATALOG_SCHEMAS["bailer_jones"].column_map is schema.BAILER_JONES_VIZIER_COLUMNS
    for kind in schema.CATALOG_SCHEMAS.values():
        for name in kind.required + kind.optional:
            assert name in schema.CANONICAL_UNITS, name
        assert set(kind.column_map.values()) <= set(schema.CANONICAL_UNITS)
    assert set(schema.ID_COLUMNS) <= set(schema.CANONICAL_UNITS)


def test_column_values_units_and_masks():
    t = Table({"r": [1.0, 2.0] * u.kpc, "feh": [0.1, -0.2] * u.dex, "snr": [3, 4]})
    t["teff"] = MaskedColumn([9000.0, 1.0], mask=[False, True], unit=u.K)
    np.testing.assert_array_equal(schema.column_values(t, "r", u.pc), [1000.0, 2000.0])
    np.testing.assert_array_equal(schema.column_values(t, "feh", u.dex), [0.1, -0.2])
    out = schema.column_values(t, "snr")
    assert out.dtype == np.float64 and out.tolist() == [3.0, 4.0]
    assert np.isnan(schema.column_values(t, "teff", u.K)[1])
    with pytest.raises(schema.MissingColumnsError, match="'logg'") as info:
        schema.column_values(t, "logg")
    assert info.value.missing == ("logg",)


def test_source_label_and_reject_rows():
    t = Table({"a": [1.0]})
    assert schema.source_label(t) == ""
    t.meta["catalog"] = {"source": "gaia.fits"}
    assert schema.source_label(t) == " ('gaia.fits')"
    schema.reject_rows("column 'a'", np.array([False, False]), "are bad")  # nothing to say
    with pytest.raises(InputError, match=r"column 'a': 1 row\(s\) are bad \(rows 1\); fix"):
        schema.reject_rows("column 'a'", np.array([False, True]), "are bad", "fix")


def test_halo_cut_lives_in_cuts():
    assert populations.HALO_CUT is cuts.HALO_CUT
    assert cuts.HALO_CUT.params["p_halo_max"] == fastgrad.paper.P_HALO_MAX
    t = Table({"p_halo": [0.0, 0.00999, 0.01, np.nan]})
    np.testing.assert_array_equal(cuts.HALO_CUT.keep(t), [True, True, False, False])
    kept, report = populations.halo_cut(t)
    assert len(kept) == 2 and tuple(report.colnames) == cuts.REPORT_COLUMNS
    with pytest.raises(ValueError, match="p_halo_max"):
        cuts.HALO_CUT.keep(t, p_halo_max=1.5)
