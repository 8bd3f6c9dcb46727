from collections import Counter

from sagepipe.domain.arns import new_execution_id, random_chars


def test_execution_ids_are_twelve_lowercase_alphanumerics():
    ids = [new_execution_id(1_795_000_000 + i * 0.001) for i in range(10_000)]
    assert all(len(i) == 12 and i.isascii() and i.isalnum() and i == i.lower() for i in ids)


def test_execution_ids_sort_by_creation_time_and_differ_within_a_millisecond():
    times = [1_795_000_000.0 + i * 0.0013 for i in range(2_000)]
    ids = [new_execution_id(t) for t in times]
    # Base-36 digits ordered as [a-z0-9]: compare the time part through the alphabet.
    order = "abcdefghijklmnopqrstuvwxyz0123456789"
    stamps = [[order.index(c) for c in i[:7]] for i in ids]
    assert stamps == sorted(stamps)
    same_ms = {new_execution_id(1_795_000_000.0) for _ in range(1_000)}
    assert len({i[:7] for i in same_ms}) == 1
    assert len(same_ms) > 990  # five random characters: 60 million draws


def test_random_chars_use_every_character_about_equally():
    alphabet = "abcdefghij"
    counts = Counter("".join(random_chars(alphabet, 100) for _ in range(1_000)))
    assert set(counts) == set(alphabet)
    # 100,000 draws over 10 characters: 10,000 each, standard deviation ~95.
    assert all(9_400 < n < 10_600 for n in counts.values()), counts
