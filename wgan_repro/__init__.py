"""wgan_repro: reproduce, stress and extend Wasserstein GAN (Arjovsky, Chintala, Bottou 2017)."""

__version__ = "0.1.0"
