"""The report's captions name the protocol their figure draws (issue 32, item 4)."""

import pandas as pd

from tap.report import figures as F
from tap.report.html import TEXT


def test_the_predicted_vs_actual_caption_names_the_protocol_of_its_figure():
    pred = pd.DataFrame({"cohort_id": ["a", "b"], "subject": ["math", "code"], "pred": [0.1, 0.2],
                         "label": [0.0, 0.3], "pred_lo": [0.0, 0.1], "pred_hi": [0.2, 0.3]})
    title = F.predicted_vs_actual(pred, "TAP").layout.title.text
    assert "grouped K-fold" in title and "grouped K-fold" in TEXT["predicted"]
    assert "leave-one-cohort-out" not in TEXT["predicted"]


def test_every_figure_that_ranks_by_a_protocol_says_which_in_its_caption():
    assert "LODO" in F.lodo_per_subject([]).layout.title.text and "without any cohort of a subject" in TEXT["lodo"]
    assert "grouped K-fold" in TEXT["frontier"] and "held-out seed" in TEXT["frontier"]
    assert "held-out seed" in TEXT["selection"] and "grouped 5-fold" in TEXT["learning"]
