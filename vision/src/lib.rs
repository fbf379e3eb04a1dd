pub mod efficientnet;
pub mod preprocess;
mod tensors;
pub mod weights;
