//! Named tensors from a verified safetensors file, converted to f32 on the CPU.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::weights::{LoadError, WeightFile};

pub struct Tensors {
    file: WeightFile,
    map: HashMap<String, Tensor>,
}

impl Tensors {
    pub fn parse(file: WeightFile, bytes: &[u8]) -> Result<Self, LoadError> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| format_error(file, e))?;
        Ok(Tensors { file, map })
    }

    /// The tensor `name` as f32 with exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, LoadError> {
        let tensor = self.map.get(name).ok_or_else(|| LoadError::Format {
            name: self.file.name,
            message: format!("no tensor {name}"),
        })?;
        if tensor.dims() != shape {
            return Err(LoadError::Format {
                name: self.file.name,
                message: format!("{name} has shape {:?}, expected {shape:?}", tensor.dims()),
            });
        }
        tensor
            .to_dtype(DType::F32)
            .map_err(|e| format_error(self.file, e))
    }

    /// The tensor `name` as a flat `Vec<f32>` of `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        self.get(name, shape)?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format_error(self.file, e))
    }
}

pub fn format_error(file: WeightFile, e: candle_core::Error) -> LoadError {
    LoadError::Format {
        name: file.name,
        message: e.to_string(),
    }
}
