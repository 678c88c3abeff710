"""Untrained networks of the bundled fast and CycleGAN configs' architectures, for timing (speed does not depend
on the weights). The CycleGAN generator is built from configs/cyclegan/van_gogh.yaml, so the runtime table times
what the configs train. Usage: .venv/bin/python experiments/untrained_nets.py DIR"""

import sys
from pathlib import Path

from nst_bench.config import load_config
from nst_bench.methods.cyclegan import ResnetGenerator, save_generator
from nst_bench.methods.fast import TransformerNet, save_network

if __name__ == "__main__":
    out = Path(sys.argv[1])
    save_network(TransformerNet(width=32, blocks=5), out / "transformernet_w32_b5.safetensors", styles=["untrained"])
    c = load_config([str(Path(__file__).parent.parent / "configs/cyclegan/van_gogh.yaml")]).cyclegan
    g = ResnetGenerator(c.width, c.blocks, c.upsample, antialias=c.g_antialias, norm=c.g_norm, noise=c.g_noise)
    # one fixed name for the runtime scripts; the file's metadata says what it is (width, blocks, blur, norm)
    save_generator(g, out / "resnet_generator.safetensors")
