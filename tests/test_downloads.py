"""How a book table is shown: its columns of words read from the left, its numbers from the right."""

import pandas as pd

from stssl.report.downloads import words_left


def test_columns_of_words_are_left_aligned_header_and_cells_numbers_stay_right():
    claims = pd.DataFrame(
        {
            "claim": ["+ ST-SSL raises FixMatch's mAP (Δ, points)", "(i) cls token distillation lowers mAP"],
            "ours": [1.064, -0.819],
            "95 % interval": ["[+0.76, +1.37]", "[-1.29, -0.35]"],  # brackets and digits: a number's
            "gain": ["+1.06 [+0.76, +1.37] (3/3 seeds ahead)", "–"],  # more digits than twice the letters
            "verdict": ["holds", "not resolved at 3 seeds (the observed spread would need 4)"],
            "from": ["a", "–"],  # a dash alone holds neither letters nor digits: not counted
        }
    )
    styled = words_left(claims.style)
    html = styled.to_html()
    left = {c for c in claims.columns if f".col{claims.columns.get_loc(c)} {{\n  text-align: left;" in html}
    assert left == {"claim", "verdict", "from"}
    assert words_left(claims) is claims  # a frame is shown as pandas shows it
    assert words_left(pd.DataFrame({"x": [1.5]}).style).to_html().count("text-align") == 0
