"""The touchpoints' pure rules: the journey's stages and what moves a subject along them."""
