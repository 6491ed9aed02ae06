import pathlib

import pytest
import tensorflow_datasets as tfds

from egs_keras.data import text_corpora

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class EgsPtbTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = text_corpora.EgsPtb
    EXAMPLE_DIR = DUMMY / "egs_ptb"
    SPLITS = {"train": 2, "validation": 1, "test": 2}
    SKIP_CHECKSUMS = True


class EgsWikitext2Test(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = text_corpora.EgsWikitext2
    EXAMPLE_DIR = DUMMY / "egs_wikitext2"
    SPLITS = {"train": 4, "validation": 2, "test": 2}
    SKIP_CHECKSUMS = True
    OVERLAPPING_SPLITS = ["validation", "test"]  # blank lines recur in every split


class EgsSentencesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = text_corpora.EgsSentences
    EXAMPLE_DIR = DUMMY  # unused: the corpus is generated
    SPLITS = {"train": 2000, "validation": 200, "test": 200}
    SKIP_CHECKSUMS = True
    OVERLAPPING_SPLITS = ["validation", "test"]  # short sentences recur


def test_lines_come_back_in_file_order_with_blank_lines(tmp_path):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    for name in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"):
        (manual / name).write_text((DUMMY / "egs_wikitext2" / name).read_text())
    lines = text_corpora.load_lines("egs_wikitext2", data_dir=str(tmp_path))
    assert lines["train"] == [" ", " = Valkyria Chronicles = ", " ",
                              " The game began development in 2010 . "]


def test_a_missing_file_is_named_with_the_directory_to_put_it_in(tmp_path):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    (manual / "ptb.train.txt").write_text("a b\n")
    (manual / "ptb.test.txt").write_text("a b\n")
    with pytest.raises(FileNotFoundError, match=r"lacks ptb\.valid\.txt.*Put ptb\.train\.txt"):
        text_corpora.load_lines("egs_ptb", data_dir=str(tmp_path))
    assert str(manual) in _message(tmp_path)


def _message(tmp_path):
    try:
        text_corpora.load_lines("egs_ptb", data_dir=str(tmp_path))
    except FileNotFoundError as error:
        return str(error)
    return ""


def test_an_unknown_corpus_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="egs_ptb"):
        text_corpora.load_lines("ptb")


def test_the_grammar_makes_verbs_agree_with_their_subjects():
    import numpy as np
    rng = np.random.default_rng(1)
    singular = {s for s, _ in text_corpora._NOUNS}
    for _ in range(200):
        words = text_corpora.grammar_sentence(rng).split()
        noun = next(w for w in words[1:] if w not in text_corpora._ADJECTIVES)
        verb = words[words.index(noun) + 1]
        assert (verb.endswith("s")) == (noun in singular), words
