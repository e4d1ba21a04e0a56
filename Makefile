# mattebox: `make demo` (install, make synthetic data, train a tiny DIM, test it) and
# `make test` (install, run the test suite). Both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch 2.13.0 is what mattebox is tested with; override on GPU
# machines, e.g. `make install TORCH_SPEC="torch==2.13.0 --index-url ..."`.
TORCH_SPEC ?= torch==2.13.0
DEMO_DATA ?= data/synthetic
DEMO_DIR ?= work_dirs/demo

.PHONY: install demo test clean-demo

install: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements/runtime.txt requirements/tests.txt requirements/diffusion.txt requirements/app.txt requirements/sparse.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[tests,diffusion,app,sparse]"
	@touch $@

$(DEMO_DATA)/test_list.json: | install
	@echo "== synthetic data: $(DEMO_DATA) (200 train + 20 test samples, 128 x 128)"
	@$(PY) tools/dataset_converters/make_synthetic.py $(DEMO_DATA) \
		--num-train 200 --num-test 20 --size 128 128 --seed 0 --quiet

DEMO_CFG := configs/dim/dim_tiny_synthetic.py
DEMO_DATA_OPTS := train_dataloader.dataset.data_root=$(DEMO_DATA) \
	val_dataloader.dataset.data_root=$(DEMO_DATA) test_dataloader.dataset.data_root=$(DEMO_DATA)

demo: install $(DEMO_DATA)/test_list.json
	@echo "== untrained model (iteration 0) on the synthetic test split"
	@$(PY) tools/misc/init_checkpoint.py $(DEMO_CFG) $(DEMO_DIR)/iter_0.pth --seed 0
	@$(PY) tools/test.py $(DEMO_CFG) $(DEMO_DIR)/iter_0.pth --work-dir $(DEMO_DIR)/untrained \
		--out $(DEMO_DIR)/metrics_iter_0.json --cfg-options $(DEMO_DATA_OPTS)
	@echo "== training $(DEMO_CFG)"
	@$(PY) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_DIR) --cfg-options $(DEMO_DATA_OPTS)
	@echo "== trained model on the synthetic test split"
	@$(PY) tools/test.py $(DEMO_CFG) $(DEMO_DIR)/iter_3000.pth --work-dir $(DEMO_DIR) \
		--out $(DEMO_DIR)/metrics.json --save-pred $(DEMO_DIR)/pred --cfg-options $(DEMO_DATA_OPTS)
	@echo "== matting one image with the trained model (tools/infer.py)"
	@$(PY) tools/infer.py $(DEMO_CFG) $(DEMO_DIR)/iter_3000.pth $(DEMO_DATA)/test/merged/0000.png \
		--trimap $(DEMO_DATA)/test/trimap/0000.png --out $(DEMO_DIR)/infer --background "#00b140"
	@echo "== done"
	@echo "   environment:     source $(VENV)/bin/activate   (then python tools/..., as in README.md;"
	@echo "                    tools/*.sh use $(VENV) by themselves)"
	@echo "   metrics:         $(DEMO_DIR)/metrics.json"
	@echo "   predictions:     $(DEMO_DIR)/pred/"
	@echo "   visualisations:  $(DEMO_DIR)/vis/test/ (image | trimap | prediction | ground truth)"
	@echo "   cut-out:         $(DEMO_DIR)/infer/0000_cutout.png (and _alpha, _composite)"
	@echo "   your own photo:  $(PY) tools/infer.py $(DEMO_CFG) $(DEMO_DIR)/iter_3000.pth \\"
	@echo "                        PHOTO.jpg --trimap TRIMAP.png --out results   (docs/inference.md)"
	@echo "   on a page:       $(PY) tools/app.py $(DEMO_CFG) $(DEMO_DIR)/iter_3000.pth"
	@echo "                    then open the address it prints (http://127.0.0.1:7860 when free; docs/app.md)"

test: install
	$(PY) -m pytest tests -q

clean-demo:
	rm -rf $(DEMO_DIR)
