import pytest

from service.analysis.normalize import normalize, normalize_with_map


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("KRATOM Cures", "kratom cures"),
        ("kr@tom", "kratom"),
        ("k-r-a-t-o-m works", "kratom works"),
        ("K.R.A.T.O.M", "kratom"),
        ("krat0m", "kratom"),
        ("kr\u0430tom", "kratom"),              # Cyrillic a
        ("kra\u200btom", "kratom"),             # zero-width space
        ("pain\u00adkiller", "painkiller"),     # soft hyphen
        ("ｋｒａｔｏｍ", "kratom"),               # full-width (NFKC)
        ("ﬁne", "fine"),                        # ligature (NFKC)
        ("kratom’s “power”", "kratom's \"power\""),
        ("Straße", "strasse"),
        ("\u202emotark", "kratom"),             # right-to-left override: shown reversed
        ("\u202erecnac\u202c seruc", "cancer seruc"),  # ...up to the pop (U+202C)
        ("ca\u0301ncer", "cancer"),              # combining accent
        ("c\u00e1ncer caf\u00e9", "cancer cafe"),    # precomposed accents
        ("canc\u0332er", "cancer"),              # a mark that composes with nothing
    ],
)
def test_normalize_folds_case_width_invisibles_and_obfuscations(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["Kr@tom cures pain", "ｋｒａｔｏｍ cures pain", "kr\u200batom cures pain",
                                 "Ｓtraße kratom cures pain", "plain ascii cures pain",
                                 "kratom cu\u0301res pain", "kratom \u202eseruc\u202c pain"])
def test_spans_in_normalized_text_map_back_to_the_original(raw):
    n = normalize_with_map(raw)
    i = n.text.index("cures")
    a, b = n.to_original(i, i + len("cures"))
    assert raw[a:b].replace("\u0301", "") in ("cures", "seruc")


def test_ascii_text_keeps_an_identity_map():
    assert normalize_with_map("Kratom eases pain.").origin is None


def test_a_reversed_run_maps_back_to_the_characters_it_came_from():
    raw = "Kratom \u202erecnac\u202c."
    n = normalize_with_map(raw)
    assert n.text == "kratom cancer."
    i = n.text.index("cancer")
    assert n.to_original(i, i + 6) == (raw.index("recnac"), raw.index("recnac") + 6)
