"""The sources stage: where kernels come from besides `train`. A user's model files, read as data (checkpoint finds
and loads them, a training history too, through the readers pytorch (with scriptgraph: what a TorchScript program
passes to its convolutions), safetensors, onnxfile and kerasfile (with keraslayers, the layer types, and kerash5,
safe HDF5 reading), each returning the modelfile record; layers tells which weights are conv layers), a model handed
over in Python (memory),
either one turned into a run folder (inspect, the one reading path of the command and the API), or kernels recorded
from the user's own training loop (recorder)."""
