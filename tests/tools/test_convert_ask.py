"""llamavid-convert and llamavid-ask --image --dump on checkpoints in the released layout.

A tiny checkpoint is written by tests/reference/make_released_checkpoint.py (torch.save bf16
shards with an index, tokenizer.model, vocab.txt); the converted model must give the plain
PyTorch reference's context/content tokens and greedy answer ids. Bad checkpoints must fail
with a message naming the file and the tensor.

usage: test_convert_ask.py LLAMAVID_CONVERT LLAMAVID_ASK SCRATCH_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "pipelines"))
import make_released_checkpoint as released  # noqa: E402
import media_util  # noqa: E402
import safetensors_io  # noqa: E402

CONVERT, ASK, SCRATCH = sys.argv[1:4]


def make_checkpoint(name, style, external=False):
    out = os.path.join(SCRATCH, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cmd = [sys.executable, os.path.join(HERE, "..", "reference", "make_released_checkpoint.py"),
           out, style] + (["--external-tower"] if external else [])
    subprocess.run(cmd, check=True)
    return out


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


class ConvertAndAsk(unittest.TestCase):
    def check_parity(self, case, style, external):
        out = make_checkpoint(case, style, external)
        model = os.path.join(out, "model")
        convert = [CONVERT, "--checkpoint", os.path.join(out, "checkpoint"), "--out", model]
        if external:
            convert += ["--vision-tower", os.path.join(out, "eva_vit_g.pth")]
        r = run(convert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(model)),
                         ["config.json", "model.safetensors", "tokenizer.model", "vocab.txt"])
        with open(os.path.join(out, "question.txt")) as f:
            question = f.read()
        frames = sorted(p for p in os.listdir(out) if p.startswith("frame_"))
        # No context-mode option: a released checkpoint is answered as LLaMA-VID answers it
        # (auto is hybrid for it, and the images are inside the window).
        cmd = [ASK, "--model", model, "--device", "cpu", "--max-new-tokens", "8",
               "--dump", os.path.join(out, "dump")]
        for p in frames:
            cmd += ["--image", os.path.join(out, p)]
        r = run(cmd + [question])
        self.assertEqual(r.returncode, 0, r.stderr)
        got = safetensors_io.load(os.path.join(out, "dump", "tokens.safetensors"))
        want = safetensors_io.load(os.path.join(out, "expected.safetensors"))
        for name in ("context", "content"):
            self.assertEqual(got[name].shape, want[name].shape, name)
            diff = (got[name] - want[name]).abs().max().item()
            self.assertLessEqual(diff, 1e-4, "%s differs by %g" % (name, diff))
        self.assertEqual(got["answer_ids"].tolist(), want["answer_ids"].tolist())
        with open(os.path.join(out, "expected_answer.txt")) as f:
            self.assertEqual(r.stdout.strip(), f.read().strip())

    # Short-video layout (vicuna_v1, one <image> block), vision tower inside the shards.
    def test_video_checkpoint(self):
        self.check_parity("video", "video", external=False)

    # Long-video layout (movie wrapper, two slots per frame, rope scaling), LAVIS tower file.
    def test_movie_checkpoint_external_tower(self):
        self.check_parity("movie", "movie", external=True)


# Subtitle cues (start s, end s, text as subparse gives it) and the SRT that holds them.
CUES = [(1.2, 2.5, "Hello there\nGeneral Kenobi"), (3.0, 3.5, "Second cue"),
        (5.5, 9.0, "The end")]
SRT = ("1\n00:00:01,200 --> 00:00:02,500\nHello there\nGeneral Kenobi\n\n"
       "2\n00:00:03,000 --> 00:00:03,500\n<i>Second</i> cue\n\n"
       "3\n00:00:05,500 --> 00:00:09,000\nThe end\n")


def subtitle_prompt_ids(sp, question, frame_seconds):
    """LLaMA-VID's long-video prompt with subtitles (reference/llamavid.md 1c, 4 and 7): each
    cue goes to the last frame whose time is before the cue's end (the first frame when none is),
    cues of one frame joined by a space, the text right after that frame's two slots; llamavid's
    start marker follows it. Line breaks in a cue become spaces."""
    subs = [[] for _ in frame_seconds]
    for _, end, text in CUES:
        before = [i for i, t in enumerate(frame_seconds) if t < end]
        subs[before[-1] if before else 0].append(text.replace("\n", " "))
    user = released.MOVIE_HEAD + "".join(
        "<image><image>" + " ".join(subs[i]) + released.marker(t)
        for i, t in enumerate(frame_seconds))
    user += "Now the movie end." + "\n" + question
    return released.tokenize_with_images(sp, released.SYSTEM + " USER: " + user + " ASSISTANT:")


class Subtitles(unittest.TestCase):
    # An SRT through subparse beside a 5 s video, into the long-video layout: the prompt ids are
    # the reference's, the element (subtitle_sink) answers as the dumped session does, and the
    # memory it saved keeps every entry's subtitle.
    def test_srt_beside_video(self):
        import sentencepiece as spm
        out = make_checkpoint("subtitles", "movie")
        model = os.path.join(out, "model")
        r = run([CONVERT, "--checkpoint", os.path.join(out, "checkpoint"), "--out", model])
        self.assertEqual(r.returncode, 0, r.stderr)
        mp4 = media_util.make_mp4(os.path.join(out, "clip.mp4"), seconds=5)
        srt = os.path.join(out, "subs.srt")
        with open(srt, "w") as f:
            f.write(SRT)
        question = "What was said?"
        ask = [ASK, "--model", model, "--device", "cpu", "--max-new-tokens", "8", "--video", mp4,
               "--subtitles", srt]
        dumped = run(ask + ["--dump", os.path.join(out, "dump"), question])
        self.assertEqual(dumped.returncode, 0, dumped.stderr)
        got = safetensors_io.load(os.path.join(out, "dump", "tokens.safetensors"))
        sp = spm.SentencePieceProcessor(model_file=os.path.join(model, "tokenizer.model"))
        want = subtitle_prompt_ids(sp, question, [0, 1, 2, 3, 4])
        self.assertEqual(got["prompt_ids"].tolist(), want)

        element = run(ask + [question])
        self.assertEqual(element.returncode, 0, element.stderr)
        self.assertEqual(element.stdout, dumped.stdout)

        # The cues come a second apart, the last after the video's EOS: that EOS waits for the
        # subtitle stream's, so the autosaved memory holds every cue.
        memory = os.path.join(out, "memory.safetensors")
        launch = subprocess.run(
            ["gst-launch-1.0", "-q", "filesrc", "location=" + mp4, "!", "decodebin", "!",
             "videoconvert", "!", "llamavid", "name=l", "model=" + model, "device=cpu",
             "autosave-path=" + memory, "!", "fakesink", "filesrc", "location=" + srt, "!",
             "subparse", "!", "identity", "sleep-time=1000000", "!", "l.subtitle_sink"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(launch.returncode, 0, launch.stderr)
        saved = safetensors_io.load(memory)
        text = bytes(saved["subtitle_text"].tolist())
        pieces, at = [], 0
        for n in saved["subtitle_bytes"].tolist():
            pieces.append(text[at:at + n].decode("utf-8"))
            at += n
        self.assertEqual(pieces, ["", "", "Hello there General Kenobi", "Second cue", "The end"])


class BadCheckpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = make_checkpoint("bad_base", "video")

    def copy(self, name):
        dst = os.path.join(SCRATCH, name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(self.base, "checkpoint"), dst)
        return dst

    def convert_fails(self, ckpt, *needles):
        shutil.rmtree(ckpt + "_out", ignore_errors=True)
        r = run([CONVERT, "--checkpoint", ckpt, "--out", ckpt + "_out"])
        self.assertNotEqual(r.returncode, 0)
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(ckpt + "_out", "model.safetensors")))

    def edit_shard(self, ckpt, fn):
        with open(os.path.join(ckpt, "pytorch_model.bin.index.json")) as f:
            index = json.load(f)
        shard = index["weight_map"]["model.norm.weight"]
        path = os.path.join(ckpt, shard)
        sd = torch.load(path)
        fn(sd)
        torch.save(sd, path)
        # Keep the index in step with the shard, as a real (if wrong) checkpoint would be.
        index["weight_map"] = {k: v for k, v in index["weight_map"].items() if v != shard}
        index["weight_map"].update({k: shard for k in sd})
        with open(os.path.join(ckpt, "pytorch_model.bin.index.json"), "w") as f:
            json.dump(index, f)
        return shard

    # A tensor missing from the checkpoint names the tensor.
    def test_missing_tensor(self):
        ckpt = self.copy("bad_missing")
        self.edit_shard(ckpt, lambda sd: sd.pop("model.norm.weight"))
        self.convert_fails(ckpt, "model.norm.weight", "missing")

    # An index naming a tensor its shard lacks names both.
    def test_index_out_of_step(self):
        ckpt = self.copy("bad_index")
        with open(os.path.join(ckpt, "pytorch_model.bin.index.json")) as f:
            index = json.load(f)
        index["weight_map"]["model.ghost.weight"] = "pytorch_model-00001-of-00002.bin"
        with open(os.path.join(ckpt, "pytorch_model.bin.index.json"), "w") as f:
            json.dump(index, f)
        self.convert_fails(ckpt, "model.ghost.weight", "pytorch_model-00001-of-00002.bin")

    # A wrong shape names the tensor, both shapes and the file.
    def test_wrong_shape(self):
        ckpt = self.copy("bad_shape")
        shard = self.edit_shard(ckpt, lambda sd: sd.__setitem__("model.norm.weight",
                                                                 torch.zeros(63, dtype=torch.bfloat16)))
        self.convert_fails(ckpt, "model.norm.weight", "[63]", "[64]", shard)

    # A tensor the model does not have is refused by name.
    def test_extra_tensor(self):
        ckpt = self.copy("bad_extra")
        self.edit_shard(ckpt, lambda sd: sd.__setitem__("model.surprise.weight", torch.zeros(2)))
        self.convert_fails(ckpt, "model.surprise.weight")

    # A truncated shard names the file.
    def test_truncated_shard(self):
        ckpt = self.copy("bad_truncated")
        path = os.path.join(ckpt, "pytorch_model-00001-of-00002.bin")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        self.convert_fails(ckpt, "pytorch_model-00001-of-00002.bin")

    # Missing tokenizer.model or vocab.txt are named.
    def test_missing_tokenizers(self):
        ckpt = self.copy("bad_tokenizer")
        os.remove(os.path.join(ckpt, "tokenizer.model"))
        self.convert_fails(ckpt, "tokenizer.model")
        ckpt = self.copy("bad_vocab")
        os.remove(os.path.join(ckpt, "vocab.txt"))
        self.convert_fails(ckpt, "vocab")

    # A broken config.json is named.
    def test_bad_config(self):
        ckpt = self.copy("bad_config")
        with open(os.path.join(ckpt, "config.json"), "w") as f:
            f.write("{\"hidden_size\": ")
        self.convert_fails(ckpt, "config.json")

    # Bytes of a config.json that are not UTF-8 come out escaped ("\\xFF"): the error text is
    # valid UTF-8 and still shows them.
    def test_config_bytes_escaped(self):
        ckpt = self.copy("bad_config_bytes")
        with open(os.path.join(ckpt, "config.json"), "wb") as f:
            f.write(b'{"hidden_size": 128, "a": "\xff\xfe", "b": [1, 2')
        shutil.rmtree(ckpt + "_out", ignore_errors=True)
        r = subprocess.run([CONVERT, "--checkpoint", ckpt, "--out", ckpt + "_out"],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stderr.decode("utf-8")  # raises if the text is not UTF-8
        self.assertIn("config.json", err)
        self.assertIn("\\xFF", err)
        self.assertNotIn("\ufffd", err)

    # A FIFO given as --vision-tower is refused at once (reading it would wait for a writer).
    def test_fifo_vision_tower(self):
        ckpt = self.copy("bad_fifo")
        fifo = os.path.join(SCRATCH, "tower_fifo.pth")
        if os.path.exists(fifo):
            os.remove(fifo)
        os.mkfifo(fifo)
        r = subprocess.run([CONVERT, "--checkpoint", ckpt, "--out", ckpt + "_out",
                            "--vision-tower", fifo], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not a regular file", r.stderr)

    # --out equal to --checkpoint is refused before anything is written.
    def test_out_is_the_checkpoint(self):
        ckpt = self.copy("bad_out")
        before = sorted(os.listdir(ckpt))
        r = run([CONVERT, "--checkpoint", ckpt, "--out", ckpt + "/."])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--out must not be the --checkpoint folder", r.stderr)
        self.assertEqual(sorted(os.listdir(ckpt)), before)

    # llamavid-ask on a model directory without weights fails with a clear message.
    def test_ask_missing_model(self):
        r = run([ASK, "--model", os.path.join(SCRATCH, "nowhere"), "--image", "x.png", "q?"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nowhere", r.stderr)


if __name__ == "__main__":
    os.makedirs(SCRATCH, exist_ok=True)
    unittest.main(argv=[sys.argv[0], "-v"])
