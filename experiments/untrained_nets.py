"""Untrained networks of the bundled fast and CycleGAN configs' architectures, for timing (speed does not depend
on the weights). Usage: .venv/bin/python experiments/untrained_nets.py DIR"""

import sys
from pathlib import Path

from nst_bench.methods.cyclegan import ResnetGenerator, save_generator
from nst_bench.methods.fast import TransformerNet, save_network

if __name__ == "__main__":
    out = Path(sys.argv[1])
    save_network(TransformerNet(width=32, blocks=5), out / "transformernet_w32_b5.safetensors", styles=["untrained"])
    save_generator(ResnetGenerator(width=32, blocks=9, upsample="bilinear"),
                   out / "resnet_generator_w32_b9.safetensors")
