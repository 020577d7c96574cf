"""Column names that no alias lists, read by their words (`scalelab.runs.name_words`).

References: the words of each name as a person reads them, and the values written into the tables (Clark et al.'s
public MoE export's own header: ``num_experts, ..., total_parameter_count, dense_parameter_count``).
"""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.runs.columns import unit_alias
from scalelab.runs.name_words import word_alias, words


@pytest.mark.parametrize("name, parts", [
    ("numTrainingTokens", ["num", "training", "tokens"]), ("NParams", ["n", "params"]),
    ("TotalFLOPs", ["total", "flops"]), ("loss/validation", ["loss", "validation"]),
    ("val_cross_entropy", ["val", "crossentropy"]), ("Data Size", ["datasize"]),
    ("Final Val Loss", ["final", "val", "loss"]), ("non-embedding parameter count", ["non", "embedding", "parameter",
                                                                                    "count"]),
])
def test_a_name_splits_into_the_words_a_person_reads(name, parts):
    assert words(name) == parts


@pytest.mark.parametrize("name, column", [
    ("total_parameter_count", "N_total"), ("dense_parameter_count", "N_active"), ("parameter_count", "N"),
    ("active_param_count", "N_active"), ("NParams", "N"), ("numTrainingTokens", "D"), ("tokens_trained_total", "D"),
    ("unique tokens", "U_D"), ("loss_validation", "loss"), ("Final Val Loss", "loss"), ("train_loss", "loss"),
    ("smooth loss", "loss"),  # Step Law's and Farseer's released grids
    ("size", "N"), ("data size", "D"), ("vocab_size", None), ("hidden_size", None),
    ("best_val_loss", "loss"), ("trainable_params", "N"), ("loss_std", None), ("active_experts", None),
    ("cross_entropy", "loss"), ("train/CrossEntropyLoss", "loss"), ("throughput/total_tokens", "D"),
    ("eval/c4_en-validation/CrossEntropyLoss", None), ("throughput/device/tokens_per_second", None),
    ("val_xent", "loss"), ("ce_loss", "loss"), ("total_flos", "C"), ("entropy", None),
    ("TotalFLOPs", "C"), ("compute_budget", "C"), ("number of experts", "E"),
    ("non-embedding parameter count", "N"),
    # a head word beside a word that is no filler or qualifier names another quantity, or one of several
    ("loss_c4", None), ("loss_pile", None), ("flops_per_step", None), ("tokens_per_batch", None),
    ("embedding_params", None), ("num_experts_per_tok", None), ("total active params", None), ("model_name", None),
    ("seed", None), ("lr", None), ("total_loss", None),
])
def test_a_name_no_alias_lists_names_the_column_its_words_say(name, column):
    found = word_alias(name)
    assert (found[0] if found else None) == column


def clark_export(n=12):
    """Runs written with the header of Clark et al.'s public export (a few of its columns): dense runs (E = 1, the
    dense count is the total) and routed ones (the total grows with the experts)."""
    rng = np.random.default_rng(0)
    dense = np.repeat(np.geomspace(1.5e7, 1.3e9, n // 3), 3)
    E = np.tile([1.0, 8.0, 64.0], n // 3)
    total = dense * (1 + 0.6 * (E - 1))
    loss = 1.8 + 20 / dense ** 0.15 / E ** 0.05 + rng.normal(0, 0.001, n)
    return pd.DataFrame({"num_experts": E, "total_parameter_count": total, "dense_parameter_count": dense,
                         "flops_per_step": 6 * dense * 5e5, "loss_c4": loss * 1.1, "loss_validation": loss,
                         "loss_pile": loss * 0.9, "router_type": np.where(E > 1, "S-Base", "Dense"),
                         "tokens": 1.3e11})


def test_clarks_export_header_is_read_by_its_words():
    """Clark et al.'s public export names its counts ``total_parameter_count`` and ``dense_parameter_count`` and its
    losses ``loss_<held-out set>``: the table was refused ("column 'loss' missing"; with ``--map loss=loss_validation``
    "no loss law has all its inputs"). Now the total is N_total (so N, beside experts), the dense (active) count
    N_active, ``loss_validation`` the loss; the per-set losses and the FLOPs per step are extra columns."""
    runs = clark_export()
    table = scalelab.read(runs)
    np.testing.assert_array_equal(table.column("loss"), runs["loss_validation"])
    np.testing.assert_array_equal(table.column("N"), runs["total_parameter_count"])
    np.testing.assert_array_equal(table.column("N_active"), runs["dense_parameter_count"])
    np.testing.assert_array_equal(table.column("E"), runs["num_experts"])
    for col in ("loss_c4", "loss_pile", "flops_per_step"):
        assert col in table.df.columns
    assert "C" in table.derived  # C = 6 N_active D, not the FLOPs per step
    assert "column 'loss_validation' read as 'loss'" in table.notes


def test_a_name_read_by_its_words_yields_to_an_alias_and_a_training_loss_to_any_loss():
    """Beside an alias of the same column (``params``) a name read by its words is an extra column; a training loss
    is read only where no other loss is named, with the usual note; two names of equal standing are refused."""
    runs = clark_export()[["tokens", "dense_parameter_count", "loss_validation"]]
    both = scalelab.read(runs.assign(params=runs["dense_parameter_count"] * 2))
    np.testing.assert_array_equal(both.column("N"), runs["dense_parameter_count"] * 2)
    train = runs.assign(train_loss=runs["loss_validation"] + 0.05)
    np.testing.assert_array_equal(scalelab.read(train).column("loss"), runs["loss_validation"])
    alone = scalelab.read(runs.rename(columns={"loss_validation": "train_loss"}))
    np.testing.assert_array_equal(alone.column("loss"), runs["loss_validation"])
    assert "column 'train_loss' read as 'loss'" in alone.notes
    two = scalelab.read(runs.assign(final_eval_loss=runs["loss_validation"] * 1.01))
    with pytest.raises(scalelab.runs.RunTableError, match="both mean 'loss'"):
        two.column("loss")


def test_a_perplexity_column_is_read_as_the_log_of_the_loss():
    """An export that gives the validation perplexity (``val_ppl``, ``Eval PPL``) and no loss was refused ("column
    'loss' missing"). A perplexity is the loss's exponential: it is read as its log, with a note; beside a loss it is
    an extra column, and a perplexity on one named set (``ppl_c4``) names nothing."""
    runs = clark_export()[["tokens", "dense_parameter_count", "loss_validation"]]
    for name in ("val_ppl", "Eval PPL", "perplexity"):
        t = scalelab.read(runs.rename(columns={"loss_validation": name}).assign(**{name: np.exp(runs.loss_validation)}))
        np.testing.assert_allclose(t.column("loss"), runs["loss_validation"], rtol=1e-12)
        assert f"column {name!r} read as 'loss': the log of its perplexities" in t.notes
    both = scalelab.read(runs.assign(val_ppl=np.exp(runs.loss_validation) * 2))
    np.testing.assert_array_equal(both.column("loss"), runs["loss_validation"])
    with pytest.raises(scalelab.runs.RunTableError, match="column 'loss' missing"):
        scalelab.read(runs.rename(columns={"loss_validation": "ppl_c4"}))


def test_an_evaluation_loss_on_a_named_set_is_the_loss_when_it_is_the_tables_only_one():
    """Found by an eighth export trial (real published headers through the benchmark's command). Marin's isoflop
    exports (``parameter_count, throughput/total_tokens, eval/paloma/macro_loss, ...``) were refused ("column 'loss'
    missing"); the xLSTM run table's ``train/.loss_mean`` was read beside its ``val/.dclm_loss``; and the (Mis)fitting
    sheets' ``Avg Train Loss`` was read beside ``C4 Eval Loss`` and ``Wiki Eval Loss`` (7-9% off the evaluation loss,
    outside the interval, with the source's gap). Now a table's one evaluation loss on a named set is the loss (a
    training loss beside it is left untouched), and several are refused, named: which is meant is unknown."""
    runs = clark_export()[["tokens", "dense_parameter_count", "loss_validation"]].rename(
        columns={"dense_parameter_count": "parameter_count", "tokens": "throughput/total_tokens"})
    loss = runs.pop("loss_validation")
    marin = scalelab.read(runs.assign(**{"eval/paloma/macro_loss": loss, "Name": "run"}))
    np.testing.assert_array_equal(marin.column("loss"), loss)
    assert "column 'eval/paloma/macro_loss' read as 'loss': the table's one evaluation loss" in marin.notes
    xlstm = scalelab.read(runs.assign(**{"train/.loss_mean": loss - 0.1, "val/.dclm_loss": loss}))
    np.testing.assert_array_equal(xlstm.column("loss"), loss)
    assert "train/.loss_mean" in xlstm.df.columns  # left untouched
    sheet = scalelab.read(runs.assign(**{"Avg Train Loss": loss - 0.1, "C4 Eval Loss": loss,
                                         "Wiki Eval Loss": loss + 0.2}))
    with pytest.raises(scalelab.runs.RunTableError, match=r"\['Avg Train Loss', 'C4 Eval Loss', 'Wiki Eval Loss'\] may "
                                                          r"each be the loss"):
        sheet.column("loss")
    mapped = scalelab.read(runs.assign(**{"Avg Train Loss": loss - 0.1, "C4 Eval Loss": loss}),
                           columns={"loss": "C4 Eval Loss"})
    np.testing.assert_array_equal(mapped.column("loss"), loss)
    alone = scalelab.read(runs.assign(**{"Avg Train Loss": loss}))  # a training loss alone is still read
    np.testing.assert_array_equal(alone.column("loss"), loss)
    std = scalelab.read(runs.assign(loss=loss, **{"eval/c4/loss_std": 0.01}))  # a statistic of a loss is no loss
    np.testing.assert_array_equal(std.column("loss"), loss)
    # the bounds of a loss's interval are no losses either: Gadre's over-training export holds loss_c4_val beside
    # loss_upper_c4_val and loss_lower_c4_val, and the refusal named all three (a new-user trial, twenty-sixth session)
    bounds = scalelab.read(runs.assign(loss_c4_val=loss, loss_upper_c4_val=loss + 0.01, loss_lower_c4_val=loss - 0.01,
                                       **{"C4 Eval Loss (95% CI min)": loss - 0.02}))
    np.testing.assert_array_equal(bounds.column("loss"), loss)


def test_counts_named_with_a_power_of_ten_written_out_or_a_unit_and_its_noun_are_read():
    """Found by a ninth export trial: ``Params (×10^6)``, ``Tokens (×10^9)`` and ``Data (B tokens)`` were refused with a
    hint (--map D=COLUMN) that could not apply the scale. They are read multiplied; a name whose count is unknown
    (``Dataset (B)``, ``loss (x10^3)``) is not."""
    N = np.geomspace(5e7, 1e9, 6)
    D = 20 * N
    loss = 3.0 - 0.1 * np.arange(6)
    t = scalelab.read(pd.DataFrame({"Params (×10^6)": N / 1e6, "Tokens (x1e9)": D / 1e9, "loss": loss}))
    np.testing.assert_allclose(t.column("N"), N, rtol=1e-12)
    np.testing.assert_allclose(t.column("D"), D, rtol=1e-12)
    u = scalelab.read(pd.DataFrame({"Size (M params)": N / 1e6, "Data (B tokens)": D / 1e9, "loss": loss}))
    np.testing.assert_allclose(u.column("N"), N, rtol=1e-12)
    np.testing.assert_allclose(u.column("D"), D, rtol=1e-12)
    assert unit_alias("Dataset (B)") is None and unit_alias("loss (x10^3)") is None
    assert unit_alias("N [10^6]") == ("N", 1e6) and unit_alias("FLOPs (1E21)") == ("C", 1e21)
    # the name read with its noun; a generic name takes the noun's count (review of the first version, which read
    # the tokens of a batch, a context or a vocabulary as training tokens and refused the table over two D's)
    assert unit_alias("Model (B params)") == ("N", 1e9) and unit_alias("Active (B params)") == ("N_active", 1e9)
    assert unit_alias("Unique (B tokens)") == ("U_D", 1e9) and unit_alias("Compute (1e21 FLOPs)") == ("C", 1e21)
    for other in ("Batch size (M tokens)", "Batch size (1e6 tokens)", "Seq len (k tokens)", "Vocab (k tokens)",
                  "Warmup (M tokens)", "Embedding (M params)", "Tokens (M per step)", "Compute (1e21 FLOPs per step)"):
        assert unit_alias(other) is None, other
    batch = scalelab.read(pd.DataFrame({"Params (M)": N / 1e6, "Tokens (B)": D / 1e9, "Batch size (M tokens)": 0.5,
                                        "loss": loss}))
    np.testing.assert_allclose(batch.column("D"), D, rtol=1e-12)
    assert "Batch size (M tokens)" in batch.df.columns  # left untouched


def test_the_refusal_over_several_evaluation_losses_names_the_other_loss_columns():
    """Found by a ninth export trial: Gadre's raw over-training export was refused over ``loss_c4_val`` and
    ``loss_val_de-en_100`` alone, which steered users there; the paper's own ``loss_openlm`` and the ``loss_paloma_*``
    columns went unnamed. They are named too; the bounds of an interval (``loss_upper_*``) are not."""
    runs = clark_export()[["tokens", "dense_parameter_count", "loss_validation"]]
    loss = runs.pop("loss_validation")
    frame = runs.assign(loss_openlm=loss, loss_c4_val=loss + 0.1, loss_upper_c4_val=loss + 0.11,
                        **{"loss_val_de-en_100": loss + 0.3, "loss_paloma_ptb": loss + 0.5})
    raw = scalelab.read(frame)
    with pytest.raises(scalelab.runs.RunTableError) as got:
        raw.column("loss")
    said = str(got.value)
    assert "columns ['loss_c4_val', 'loss_val_de-en_100'] may each be the loss" in said
    assert "other columns name a loss too: ['loss_openlm', 'loss_paloma_ptb']" in said
    scaled = scalelab.read(frame.assign(**{"optimizer/loss_scale": 65536.0, "load_balancing_loss": 0.01}))
    with pytest.raises(scalelab.runs.RunTableError, match=r"too: \['loss_openlm', 'loss_paloma_ptb'\];"):
        scaled.column("loss")  # a loss scale and a router's loss are no losses
    np.testing.assert_array_equal(scalelab.read(frame, columns={"loss": "loss_openlm"}).column("loss"), loss)


def test_counts_named_with_a_power_of_ten_and_a_data_size_are_read():
    """ObsScaling-style names: ``Pretraining Data Size (T)`` is D in trillions (not a model's size), ``FLOPs (1E21)``
    is C in units of 1e21; a bare ``size`` column of labels (``20M``) is N."""
    N = np.geomspace(5e7, 1e9, 6)
    D = 20 * N
    t = scalelab.read(pd.DataFrame({"Model Size (B)": N / 1e9, "Pretraining Data Size (T)": D / 1e12,
                                    "FLOPs (1E21)": 6 * N * D / 1e21, "loss": 3.0 - 0.1 * np.arange(6)}))
    for col, want in (("N", N), ("D", D), ("C", 6 * N * D)):
        np.testing.assert_allclose(t.column(col), want, rtol=1e-12)
    sized = scalelab.read(pd.DataFrame({"size": ["50M", "120M", "300M"], "tokens": [1e9, 2.4e9, 6e9],
                                        "loss": [3.1, 2.9, 2.7]}))
    np.testing.assert_array_equal(sized.column("N"), [5e7, 1.2e8, 3e8])
