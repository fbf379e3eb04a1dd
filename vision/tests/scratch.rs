#[test]
fn scratch() {
    let bytes = vision::weights::WeightSource::Embedded.read(vision::weights::EFFICIENTNET_LITE0).unwrap();
    let net = vision::efficientnet::EfficientNetLite0::load(&bytes).unwrap();
    let classes: Vec<String> = String::from_utf8(vision::weights::WeightSource::Embedded.read(vision::weights::IMAGENET_CLASSES).unwrap()).unwrap().lines().map(String::from).collect();
    for f in ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"] {
        let img = image::open(format!("../fixtures/{f}")).unwrap().to_rgb8();
        let input = vision::preprocess::classifier_input(&img).unwrap();
        let t = std::time::Instant::now();
        let p = net.probabilities(&input).unwrap();
        let el = t.elapsed();
        let mut idx: Vec<usize> = (0..1000).collect();
        idx.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
        println!("{f} {el:?} {}", idx[..5].iter().map(|&i| format!("{} {:.3}", classes[i], p[i])).collect::<Vec<_>>().join(" | "));
    }
}
