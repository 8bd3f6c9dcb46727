from collections import Counter

from sagepipe.domain.arns import new_execution_id, random_chars


def test_execution_ids_are_twelve_lowercase_alphanumerics_and_distinct():
    ids = [new_execution_id() for _ in range(10_000)]
    assert all(len(i) == 12 and i.isalnum() and i == i.lower() for i in ids)
    assert len(set(ids)) == len(ids)


def test_random_chars_use_every_character_about_equally():
    alphabet = "abcdefghij"
    counts = Counter("".join(random_chars(alphabet, 100) for _ in range(1_000)))
    assert set(counts) == set(alphabet)
    # 100,000 draws over 10 characters: 10,000 each, standard deviation ~95.
    assert all(9_400 < n < 10_600 for n in counts.values()), counts
