import pytest

from reparam.data.austen import book_sentences, is_apparatus, word_count
from reparam.data.english import balance_quotes, paragraphs, split_sentences, tokenize


@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        ("It rained. We stayed in.", ["It rained.", "We stayed in."]),
        (
            "Mr. and Mrs. Dashwood came. Dr. Grant left.",
            ["Mr. and Mrs. Dashwood came.", "Dr. Grant left."],
        ),
        ('"Oh!" cried she. "Is it?" Yes.', ['"Oh!" cried she.', '"Is it?"', "Yes."]),
        ('"Oh!" said she, "no."', ['"Oh!" said she, "no."']),  # ! before a lowercase word
        ("Signed F. C. Weston. So I. Then he.", ["Signed F. C. Weston.", "So I.", "Then he."]),
        (
            "He went to St. James's. It was 1797. 1798 came.",
            ["He went to St. James's.", "It was 1797.", "1798 came."],
        ),
        ("Stop!--Wait. What?! No...  Fine.", ["Stop!--Wait.", "What?!", "No...", "Fine."]),
        ("no end", ["no end"]),
    ],
)
def test_sentence_splitting(paragraph: str, sentences: list[str]) -> None:
    assert split_sentences(paragraph) == sentences
    assert " ".join(sentences) == " ".join(paragraph.split())


def test_paragraphs_join_lines_between_blank_ones() -> None:
    lines = ["", "One line", "  and its rest.", "   ", "", "Two.", ""]
    assert list(paragraphs(lines)) == ["One line and its rest.", "Two."]
    assert list(paragraphs([])) == []


def test_tokens_are_lowercase_words_numbers_and_marks() -> None:
    assert tokenize("Mr. Darcy's £10,000--a-year!") == (
        "mr",
        ".",
        "darcy's",
        "£",
        "10",
        ",",
        "000",
        "--",
        "a-year",
        "!",
    )
    assert tokenize("'Tis so -- she said - 'yes'.") == (
        "'",
        "tis",
        "so",
        "--",
        "she",
        "said",
        "-",
        "'",
        "yes",
        "'",
        ".",
    )


def test_unmatched_quotes_at_the_ends_go() -> None:
    assert balance_quotes('You know it well."') == "You know it well."
    assert balance_quotes('"Yes," said he, "it is."') == '"Yes," said he, "it is."'
    assert balance_quotes('He said "so.') == 'He said "so.'


def test_a_novel_loses_its_title_headings_notes_and_end_matter() -> None:
    lines = [
        "EMMA", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "",
        "Emma Woodhouse, handsome, clever, and rich, seemed to unite some of the", "best blessings of existence. She was _very_ happy.*",
        "", "* * * * *", "", "*A footnote. About it.", "", "[To Mrs. Weston.]", "",
        "Chapter 2", "", '"So it is. Quite so."', "", "FINIS", "", "A NOTE ON THE TEXT", "", "Notes.",
    ]  # fmt: skip
    assert book_sentences(lines) == [
        "Emma Woodhouse, handsome, clever, and rich, seemed to unite some of the best blessings of existence.",
        "She was very happy.",
        "So it is.",
        "Quite so.",
    ]


def test_apparatus_and_word_counts() -> None:
    assert is_apparatus("CHAPTER XIV") and is_apparatus("Volume II") and is_apparatus("THE END")
    assert not is_apparatus("Chapter and verse were quoted.")
    assert word_count("It is so, is it not?") == 6 and word_count("--!") == 0
